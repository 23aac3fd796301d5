#!/usr/bin/env python3
"""Every failing endpoint of a placed-and-routed design, from nextpnr's SDF (`--sdf FILE`).

    scripts/synth_sta.py top.sdf [PERIOD_PS] [-p N]

nextpnr prints only the worst path per clock. This reads the SDF nextpnr writes after routing
(cell delays, interconnect delays, setup checks; the slowest corner), computes the latest
arrival at every pin (one clock, every flip-flop and block RAM output a start point) and lists
the endpoints later than PERIOD_PS (default 10,000 ps), grouped by where their worst path
starts and ends (instance numbers folded), worst group first; `-p N` prints the worst path of
the first N groups. Its worst endpoint agrees with nextpnr's critical path report.
"""
import collections
import re
import sys

sdf = open(sys.argv[1]).read()
period = float(sys.argv[2]) if len(sys.argv) > 2 else 10000.0
CLOCKS = {'CLK', 'CLKA', 'CLKB', 'WCK', 'CLKW', 'CLKR', 'RCLK', 'WCLK', 'CLK0', 'CLK1', 'CLK2', 'CLK3'}
def mx(t):  # "(a:b:c)"
    return max(float(x) for x in t.strip('()').split(':'))
unesc = lambda s: s.replace('\\', '')
edges = collections.defaultdict(list)   # node -> [(node, delay)]
starts = {}  # node -> clk-to-q
setups = {}  # node -> setup
for chunk in sdf.split('(CELL\n')[1:]:
    mm = re.search(r'\(CELLTYPE "([^"]*)"\)\s*\(INSTANCE ([^)]*)\)', chunk)
    ctype, inst, body = mm.group(1), unesc(mm.group(2).strip()), chunk
    for a, b, t1, t2 in re.findall(r'\(IOPATH (\S+) (\S+) (\([^)]*\)) (\([^)]*\))\)', body):
        d = max(mx(t1), mx(t2))
        if a in CLOCKS:
            starts[(inst, b)] = max(starts.get((inst, b), 0), d)
        else:
            edges[(inst, a)].append(((inst, b), d))
    for kind, a, clk, t1, t2 in re.findall(r'\(SETUPHOLD \((\w+) (\S+)\) \(posedge (\S+)\) (\([^)]*\)) (\([^)]*\))\)', body):
        setups[(inst, a)] = max(setups.get((inst, a), 0), mx(t1))
    for src, dst, t1, t2 in re.findall(r'\(INTERCONNECT (\S+) (\S+) (\([^)]*\)) (\([^)]*\))\)', body):
        s = unesc(src).rsplit('/', 1); dd = unesc(dst).rsplit('/', 1)
        edges[(s[0], s[1])].append(((dd[0], dd[1]), max(mx(t1), mx(t2))))
# Latest arrival at every pin, in topological order (Kahn).
arr = {}
pred = {}
indeg = collections.Counter()
for u, vs in edges.items():
    for v, d in vs:
        indeg[v] += 1
# Kahn topological with sources = nodes with indeg 0
nodes = set(edges) | {v for vs in edges.values() for v, _ in vs} | set(starts)
q = collections.deque(n for n in nodes if indeg[n] == 0)
for n in nodes:
    if n in starts:
        arr[n] = starts[n]
order = []
while q:
    u = q.popleft(); order.append(u)
    for v, d in edges.get(u, []):
        if u in arr:
            a = arr[u] + d
            if a > arr.get(v, -1):
                arr[v] = a; pred[v] = u
        indeg[v] -= 1
        if indeg[v] == 0:
            q.append(v)
print('nodes', len(nodes), 'ordered', len(order), file=sys.stderr)
ends = []
for n, s in setups.items():
    if n in arr:
        ends.append((arr[n] + s, n))
ends.sort(reverse=True)
def group(inst):
    g = re.sub(r'(_TRELLIS_FF_Q|_LUT4_Z|_CCU2C|\.q_|_PFUMX|\.mem\.|_DP16KD|_TRELLIS_RAMW|\$CCU2|_L6MUX).*', '', inst)
    g = re.sub(r'\$\d+', '$N', g)
    return g
fail = [e for e in ends if e[0] > period]
print('endpoints', len(ends), 'failing', len(fail), 'worst', ends[0][0] if ends else None)
by = collections.defaultdict(list)
for t, n in fail:
    # group by start-group -> end-group
    u = n
    while u in pred: u = pred[u]
    by[(group(u[0]) + '/' + u[1].rstrip('0123456789'), group(n[0]))].append((t, n))
for k, v in sorted(by.items(), key=lambda kv: -max(x[0] for x in kv[1]))[:40]:
    print(f'{len(v):5d} worst {max(x[0] for x in v):7.0f}  {k[0]}  ->  {k[1]}')
if '-p' in sys.argv:
    seen=set()
    for k, v in sorted(by.items(), key=lambda kv: -max(x[0] for x in kv[1]))[:int(sys.argv[sys.argv.index('-p')+1])]:
        t, n = max(v)
        print('== path', t)
        path = [n]
        while path[-1] in pred: path.append(pred[path[-1]])
        for p in reversed(path):
            print(f'   {arr[p]:7.0f} {p[0]}/{p[1]}')
