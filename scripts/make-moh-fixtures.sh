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
