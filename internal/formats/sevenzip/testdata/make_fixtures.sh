#!/bin/sh
# Regenerates the 7z fixtures with Debian's p7zip-full (apt-get install -y
# p7zip-full). Tests never run this: the archives are committed.
set -eu
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/model" "$work/model/empty-dir"
# A protocol-2 pickle that calls os.system("id") when loaded.
printf '\200\002cposix\nsystem\nq\000X\002\000\000\000idq\001\205q\002Rq\003.' > "$work/model/evil.pkl"
# A benign protocol-2 pickle: the list [1, 2].
printf '\200\002]q\000(K\001K\002e.' > "$work/model/ok.pkl"
: > "$work/model/empty.pkl"
head -c 16777216 /dev/zero > "$work/zeros.bin"
rm -f ./*.7z
( cd "$work" && 7z a -bd -mtm=off -mtc=off -mta=off -mx=9 malicious.7z model >/dev/null )          # LZMA2, solid, compressed header
( cd "$work" && 7z a -bd -mtm=off -mhc=off -m0=Copy copy.7z model/evil.pkl model/ok.pkl >/dev/null )  # stored, plain header
( cd "$work" && 7z a -bd -mtm=off -m0=PPMd ppmd.7z model/evil.pkl >/dev/null )
( cd "$work" && 7z a -bd -mtm=off -m0=BZip2 bzip2.7z model/evil.pkl >/dev/null )
( cd "$work" && 7z a -bd -mtm=off -ms=off -m0=LZMA lzma-nonsolid.7z model/evil.pkl model/ok.pkl >/dev/null )
( cd "$work" && 7z a -bd -mtm=off -psecret -mhe=off encrypted.7z model/evil.pkl >/dev/null )          # names visible, data encrypted
( cd "$work" && 7z a -bd -mtm=off -psecret -mhe=on encrypted-header.7z model/evil.pkl >/dev/null )    # header encrypted too
( cd "$work" && 7z a -bd -mtm=off -mx=9 zeros.7z zeros.bin >/dev/null )
cp "$work"/*.7z .
ls -l ./*.7z
