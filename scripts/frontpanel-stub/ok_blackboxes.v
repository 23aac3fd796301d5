// NOT Opal Kelly's HDL: empty modules with the ports of the FrontPanel endpoints the XEM7010
// top instantiates, so that yosys can read and count the top without the SDK
// (scripts/build-bitstreams xem7010 without Vivado). Vivado reads Opal Kelly's own files.
(* blackbox *)
module okHost(input [7:0] hi_in, output [1:0] hi_out, inout [15:0] hi_inout, inout hi_aa,
              output ti_clk, output [30:0] ok1, input [16:0] ok2);
endmodule
(* blackbox *)
module okPipeIn(input [30:0] ok1, output [16:0] ok2, input [7:0] ep_addr, output ep_write,
                output [15:0] ep_dataout);
endmodule
(* blackbox *)
module okPipeOut(input [30:0] ok1, output [16:0] ok2, input [7:0] ep_addr, output ep_read,
                 input [15:0] ep_datain);
endmodule
(* blackbox *)
module okWireOut(input [30:0] ok1, output [16:0] ok2, input [7:0] ep_addr,
                 input [15:0] ep_datain);
endmodule
