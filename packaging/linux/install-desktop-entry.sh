#!/bin/sh
# Add PN2V Studio to this user's applications menu: run once from the unpacked folder.
# (Moved the folder? Run it again. Remove: delete the file it names.)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
mkdir -p "$apps"
sed -e "s|^Exec=.*|Exec=\"$here/pn2v-studio\" %f|" \
    -e "s|^Icon=.*|Icon=$here/pn2v-studio.png|" \
    "$here/pn2v-studio.desktop" > "$apps/pn2v-studio.desktop"
chmod +x "$apps/pn2v-studio.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" || true
echo "PN2V Studio is in the applications menu ($apps/pn2v-studio.desktop)."
