#!/usr/bin/env bash
# Rebuilds CEMSansSC-{Regular,Bold}.otf: Noto Sans CJK SC 2.004 cut down to GB 2312 (all 6,763 hanzi, punctuation,
# full-width forms) plus Latin, digits and the symbols the apps print (CO₂, ℃, ㎡, arrows, ①...), and renamed
# "CEM Sans SC" (a Modified Version under the SIL OFL 1.1; the Reserved Font Name is "Source", which it does not use).
# The result is committed; this script is only needed to change the character set.
#   needs: Debian `fonts-noto-cjk` (1:20220127+repack1-1) and `pip install fonttools==4.*`
set -euo pipefail
cd "$(dirname "$0")"
SRC=${NOTO_CJK_DIR:-/usr/share/fonts/opentype/noto}
PYTHON=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$PYTHON" - "$tmp/gb2312.txt" <<'PY'
import sys

chars = []
for hi in range(0xA1, 0xF8):
    for lo in range(0xA1, 0xFF):
        try:
            chars.append(bytes([hi, lo]).decode("gb2312"))
        except UnicodeDecodeError:
            pass
open(sys.argv[1], "w", encoding="utf-8").write("".join(chars))
PY

UNICODES="U+0020-007E,U+00A0-017F,U+2000-206F,U+2070-209F,U+20A0-20CF,U+2100-218F,U+2190-21FF,U+2200-22FF"
UNICODES+=",U+2460-24FF,U+25A0-25FF,U+3000-303F,U+3200-33FF,U+FE30-FE4F,U+FF00-FFEF"

for weight in Regular Bold; do
  # Face 2 of the collection is the Simplified Chinese one. No `locl` (it would pull in the JP/KR/TC forms).
  "$PYTHON" -m fontTools.subset "$SRC/NotoSansCJK-$weight.ttc" --font-number=2 \
    --text-file="$tmp/gb2312.txt" --unicodes="$UNICODES" \
    --layout-features=kern,liga,ccmp,mark,mkmk,palt,halt,tnum,pnum,frac,numr,dnom,sups,subs \
    --no-hinting --name-IDs='*' --name-languages='*' --output-file="$tmp/$weight.otf"
  "$PYTHON" - "$tmp/$weight.otf" "CEMSansSC-$weight.otf" "$weight" <<'PY'
import sys

from fontTools.ttLib import TTFont

source, target, weight = sys.argv[1:]
font = TTFont(source)
family, postscript = "CEM Sans SC", f"CEMSansSC-{weight}"
names = font["name"]
for record in list(names.names):
    if record.nameID in (1, 3, 4, 6, 16, 17, 18, 20, 21):
        names.removeNames(nameID=record.nameID)
for platform in ((3, 1, 0x409), (1, 0, 0)):
    names.setName(family, 1, *platform)
    names.setName(weight, 2, *platform)
    names.setName(f"{postscript};subset of Noto Sans CJK SC 2.004", 3, *platform)
    names.setName(f"{family} {weight}", 4, *platform)
    names.setName(postscript, 6, *platform)
cff = font["CFF "].cff
cff.fontNames = [postscript]
top = cff.topDictIndex[0]
top.FullName, top.FamilyName = f"{family} {weight}", family
if hasattr(top, "CIDFontName"):
    top.CIDFontName = postscript
font.save(target)
PY
done
ls -l CEMSansSC-*.otf
