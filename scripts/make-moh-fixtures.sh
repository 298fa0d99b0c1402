#!/bin/sh
# Dev script: makes the small MP3 fixtures of test/media/ once with Debian sox and lame (the tests never run these
# tools). WAV fixtures of every kind are generated inside the tests instead.
#   tone-stereo-cbr.mp3  2 s, 44.1 kHz stereo, 440 Hz left / 660 Hz right, 128 kbit/s CBR
#   tone-mono-vbr.mp3    2 s, 22.05 kHz mono 1 kHz, VBR (-V 4): MPEG-2 layer III
set -eu
dir="$(cd "$(dirname "$0")/.." && pwd)/test/fixtures/audio"
mkdir -p "$dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sox -D -n -r 44100 -b 16 -c 2 "$tmp/st.wav" synth 2 sine 440 sine 660 gain -6
lame --quiet -b 128 --cbr "$tmp/st.wav" "$dir/tone-stereo-cbr.mp3"
sox -D -n -r 22050 -b 16 -c 1 "$tmp/mono.wav" synth 2 sine 1000 gain -6
lame --quiet -V 4 "$tmp/mono.wav" "$dir/tone-mono-vbr.mp3"
ls -l "$dir"
# G.711 references from sox: every 4th 16-bit value from -32768 up, encoded to µ-law and A-law (one byte each), and
# all 256 codes of each law decoded back to 16-bit little-endian.
node -e 'const b=Buffer.alloc(16384*2);for(let i=0;i<16384;i++)b.writeInt16LE(-32768+i*4,i*2);process.stdout.write(b)' > "$tmp/ramp.raw"
sox -D -t raw -r 8000 -e signed -b 16 -c 1 "$tmp/ramp.raw" -t raw -e u-law -b 8 "$dir/g711-sox-ramp4.ulaw"
sox -D -t raw -r 8000 -e signed -b 16 -c 1 "$tmp/ramp.raw" -t raw -e a-law -b 8 "$dir/g711-sox-ramp4.alaw"
node -e 'process.stdout.write(Buffer.from(Array.from({length:256},(_,i)=>i)))' > "$tmp/codes.raw"
sox -D -t raw -r 8000 -e u-law -b 8 -c 1 "$tmp/codes.raw" -t raw -e signed -b 16 -L "$dir/g711-sox-ulaw-decoded.s16le"
sox -D -t raw -r 8000 -e a-law -b 8 -c 1 "$tmp/codes.raw" -t raw -e signed -b 16 -L "$dir/g711-sox-alaw-decoded.s16le"
ls -l "$dir"
