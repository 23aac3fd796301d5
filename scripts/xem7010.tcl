# Vivado (batch, non-project) flow for the XEM7010 top: run by scripts/build-bitstreams
# xem7010 inside build/boards/xem7010, where fs_accel.v, top.xdc and Opal Kelly's HDL files
# (okLibrary.v and the endpoint modules, copied from the FrontPanel SDK) are.
# Any failed step or unmet timing stops Vivado with a non-zero exit.
set part xc7a50tfgg484-1
read_verilog [glob *.v]
read_xdc top.xdc
synth_design -top top -part $part
opt_design
place_design
route_design
report_utilization -file utilization.txt
report_timing_summary -file timing.txt
if {[get_property SLACK [get_timing_paths -max_paths 1 -nworst 1 -setup]] < 0} {
    puts "ERROR: the design misses its clock (timing.txt)"
    exit 1
}
write_bitstream -force top.bit
