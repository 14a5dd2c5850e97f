#!/usr/bin/env bash
# Long-poll against WebSocket on the same machine, in one run: small-request throughput at 32
# connections (wrk) and one large download (curl). Each transport runs the loopback demo
# (gateway, agent and backend in one process, real TLS), so the ratio isolates the transport.
#
#   bash bench/transport-ratio.sh            # needs wrk (Debian package wrk) and curl
#
# Prints a table and writes it to bench/results/transport-ratio.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
dotnet build -c Release src/WStunnel.Cli >/dev/null
cli=src/WStunnel.Cli/bin/Release/net10.0/wstunnel.dll
duration=${DURATION:-10s}
size=${SIZE:-209715200}
rounds=${ROUNDS:-2}
mkdir -p bench/results
out=$(mktemp -d)

measure() { # transport round
  local transport=$1 log="$out/demo-$1-$2.log"
  dotnet "$cli" demo --transport "$transport" >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do grep -q "curl --cacert" "$log" && break; sleep 0.2; done
  local url ca base
  url=$(grep -o "https://localhost:[0-9]*/_token/[0-9a-f]*/hello?from=demo" "$log" | head -1)
  ca=$(grep -o -- "--cacert [^ ]*" "$log" | head -1 | cut -d' ' -f2)
  base=${url%/hello?from=demo}
  wrk -t2 -c32 -d"$duration" "$url" >"$out/wrk-$transport-$2.txt"
  local rps mbps
  rps=$(awk '/Requests\/sec/ {print $2}' "$out/wrk-$transport-$2.txt")
  mbps=$(curl -s --cacert "$ca" -o /dev/null -w '%{speed_download}' "$base/bytes/$size" | awk '{printf "%.1f", $1/1048576}')
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$transport $rps $mbps"
}

results=()
for round in $(seq "$rounds"); do
  for transport in WebSocket LongPoll; do
    results+=("$(measure "$transport" "$round")")
  done
done

table=$(printf '%s\n' "${results[@]}" | awk -v size="$size" '
  { rps[$1] += $2; mbps[$1] += $3; n[$1]++ }
  END {
    printf "| transport | small GET req/s (32 conn) | %d MB download MB/s |\n|---|---|---|\n", size / 1048576
    for (t in rps) printf "| %s | %.0f | %.1f |\n", t, rps[t] / n[t], mbps[t] / n[t]
    printf "| long-poll / WebSocket | %.2f | %.2f |\n", (rps["LongPoll"] / n["LongPoll"]) / (rps["WebSocket"] / n["WebSocket"]), (mbps["LongPoll"] / n["LongPoll"]) / (mbps["WebSocket"] / n["WebSocket"])
  }')
{
  echo "Transport ratio, $(date -u +%Y-%m-%d), $(nproc) cores, ${rounds} interleaved rounds of ${duration} each"
  echo
  echo "$table"
} | tee bench/results/transport-ratio.md
