#!/usr/bin/env bash
# Fetch the typefaces the handwriting recogniser is trained on (never the
# generated forms' SteveHand) from the npm registry's Fontsource packages, all
# under the SIL Open Font License 1.1, into DIR (default: .fonts here).
# Names and copyright lines: extractors/data/HANDWRITING-SOURCE.txt.
set -euo pipefail
dir="${1:-$(dirname "$0")/.fonts}"
mkdir -p "$dir"
cd "$dir"
for name in amatic-sc bad-script caveat comforter lobster marck-script marmelad neucha \
            pacifico pangolin playpen-sans shantell-sans arimo tinos cousine philosopher; do
    if ! ls -d "fontsource-$name"-*/ >/dev/null 2>&1; then
        tarball=$(npm pack --silent "@fontsource/$name")
        mkdir -p "${tarball%.tgz}"
        tar xzf "$tarball" -C "${tarball%.tgz}"
        rm "$tarball"
    fi
done
echo "fonts: $(ls -d fontsource-*/ | wc -l) families in $PWD" >&2
