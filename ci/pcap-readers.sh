#!/usr/bin/env bash
# Installs the pcap readers inetstack's tests check their captures with (crates/inetstack/tests/pcap_readers.rs):
# tcpdump and Wireshark's tshark, from Debian's archive, if missing.
set -euo pipefail
missing=()
command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
command -v tshark >/dev/null 2>&1 || missing+=(tshark)
if [ ${#missing[@]} -gt 0 ]; then
    echo "pcap readers: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
tcpdump --version 2>&1 | sed -n 1p
tshark --version 2>/dev/null | sed -n 1p
