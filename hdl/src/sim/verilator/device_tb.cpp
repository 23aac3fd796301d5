// The device's generated Verilog under Verilator, at its byte ports, talking on stdin and
// stdout: bytes read from stdin queue for the receiver and go in one per clock as it takes
// them; every byte the device sends goes to stdout. The per-clock loop is
// fs_hdl::sim::rusthdl::device::DeviceDriver's. When the device has nothing to do (no byte queued, no
// request in hand, no image being fed or computed, nothing to send) the loop flushes and
// waits for stdin, so an idle device costs nothing. It ends when stdin closes.
#include "Vtop.h"
#include "verilated.h"
#include <deque>
#include <poll.h>
#include <unistd.h>
#include <vector>

static bool write_all(const std::vector<unsigned char>& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = write(1, bytes.data() + done, bytes.size() - done);
        if (n <= 0) return false;
        done += (size_t)n;
    }
    return true;
}

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    Vtop* top = new Vtop;
    std::deque<unsigned char> rx;
    std::vector<unsigned char> tx;
    unsigned char buffer[4096];
    top->clock = 0;
    top->eval();
    for (unsigned long long cycle = 0;; cycle++) {
        bool idle = rx.empty() && !top->active && !top->feeding && !top->computing && !top->tx_valid;
        // Look at stdin (and hand over what was sent) when idle, and now and then while busy.
        if (idle || (cycle & 1023) == 0) {
            if (!tx.empty()) {
                if (!write_all(tx)) break;
                tx.clear();
            }
            struct pollfd in = {0, POLLIN, 0};
            if (poll(&in, 1, idle ? -1 : 0) > 0) {
                ssize_t n = read(0, buffer, sizeof buffer);
                if (n <= 0) break;
                rx.insert(rx.end(), buffer, buffer + n);
            }
        }
        top->rx_valid = !rx.empty();
        top->rx_data = rx.empty() ? 0 : rx.front();
        top->rx_lost = 0;
        top->tx_ready = 1;
        top->eval();
        bool taken = top->rx_valid && top->rx_ready;
        bool sent = top->tx_valid;
        unsigned char byte = top->tx_data;
        top->clock = 1;
        top->eval();
        // The falling edge settles with the next cycle's inputs (no negative-edge logic).
        top->clock = 0;
        if (taken) rx.pop_front();
        if (sent) tx.push_back(byte);
    }
    write_all(tx);
    top->final();
    delete top;
    return 0;
}
