// A board's netlist, read back from its bitstream or (ECP5) after synthesis (module `chip`,
// ports named after its pin file), under Verilator, talking on stdin and stdout through its UART pins as the board's
// USB-serial bridge would: bytes read from stdin go out on `uart_rx` (8N1, CLOCKS_PER_BIT
// clocks a bit, back to back); what the design sends on `uart_tx` is sampled in the middle of
// each bit and written to stdout. Usage: sim CLOCKS_PER_BIT [STARTUP_CYCLES]: the line into
// the design stays idle for the first STARTUP_CYCLES (a board with a PLL listens once it has
// locked; a host opens the port long after).
//
// The netlist has no status ports to say when it is idle, so the loop goes by the line: once
// nothing is queued, no byte is on the wire either way and the design has been silent for
// QUIET_CYCLES (more than the 65,535 cycles within which the device answers any request),
// it flushes and waits for stdin, so an idle device costs nothing. Before that it only looks
// at stdin every 1,024 cycles, so a host's next request is picked up while the clock runs.
// It ends when stdin closes.
#include "Vchip.h"
#include "verilated.h"
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <poll.h>
#include <unistd.h>
#include <vector>

static const unsigned long QUIET_CYCLES = 1ul << 17;

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
    if (argc < 2 || atoi(argv[1]) < 4) {
        fprintf(stderr, "usage: %s CLOCKS_PER_BIT (at least 4) [STARTUP_CYCLES]\n", argv[0]);
        return 2;
    }
    const unsigned cpb = (unsigned)atoi(argv[1]);
    const unsigned long long startup = argc > 2 ? strtoull(argv[2], nullptr, 10) : 0;
    Verilated::commandArgs(argc, argv);
    Vchip* top = new Vchip;
    std::deque<unsigned char> rx;
    std::vector<unsigned char> tx;
    unsigned char buffer[4096];
    // The line into the design: a frame of 10 bits (start, 8 data bits LSB first, stop),
    // `send_bit` its current bit (-1: idle), `send_clock` the clocks spent on it.
    unsigned send_frame = 0;
    int send_bit = -1;
    unsigned send_clock = 0;
    // The line out of it: clocks since the start bit's falling edge (-1: waiting for one);
    // after the stop bit, the line must go high again before the next start.
    long recv_clock = -1;
    bool recv_wait_high = false;
    unsigned recv_byte = 0;
    unsigned long framing_errors = 0, quiet = 0;
    top->uart_rx = 1;
    top->clock = 0;
    top->eval();
    for (unsigned long long cycle = 0;; cycle++) {
        bool idle = rx.empty() && send_bit < 0 && recv_clock < 0 && quiet >= QUIET_CYCLES;
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
        if (send_bit < 0 && !rx.empty() && cycle >= startup) {
            send_frame = (1u << 9) | ((unsigned)rx.front() << 1);
            rx.pop_front();
            send_bit = 0;
            send_clock = 0;
        }
        top->uart_rx = send_bit < 0 ? 1 : (send_frame >> send_bit) & 1;
        top->clock = 1;
        top->eval();
        top->clock = 0;
        top->eval();
        if (send_bit >= 0 && ++send_clock == cpb) {
            send_clock = 0;
            if (++send_bit == 10) send_bit = -1;
        }
        bool line = top->uart_tx;
        if (recv_clock < 0) {
            if (recv_wait_high) {
                recv_wait_high = !line;
            } else if (!line) {
                recv_clock = 0;
                recv_byte = 0;
            }
        } else {
            recv_clock++;
            // Bit k (0 the start bit, 9 the stop bit) is sampled in its middle.
            if (recv_clock % cpb == cpb / 2) {
                long k = recv_clock / cpb;
                if (k >= 1 && k <= 8) {
                    recv_byte |= (unsigned)line << (k - 1);
                } else if (k == 9) {
                    if (!line) framing_errors++;
                    tx.push_back((unsigned char)recv_byte);
                    recv_clock = -1;
                    recv_wait_high = !line;
                }
            }
        }
        quiet = (send_bit >= 0 || recv_clock >= 0 || !line) ? 0 : quiet + 1;
    }
    write_all(tx);
    if (framing_errors) fprintf(stderr, "netlist: %lu bytes with a broken stop bit\n", framing_errors);
    top->final();
    delete top;
    return 0;
}
