#!/usr/bin/env bash
# System packages the project needs beyond Node and npm (Debian/Ubuntu, run as root).
# Idempotent and quick when everything is present: apt is only touched for missing packages.
#
#   chromium          headless browser for the HTML report's screenshot test (test/report.test.ts;
#                     the test is skipped when /usr/bin/chromium is absent)
#   fonts-dejavu-core, fonts-liberation
#                     the fonts the report asks for, so screenshots match the committed reference
#                     (installed explicitly because apt runs here without Recommends)
#   libtorch-dev      libtorch (C++ PyTorch) headers and libraries: the training engine's addon
#                     (native/, built by `npm ci` through scripts/build-native.mjs)
#   libgloo-dev       Gloo's headers, which libtorch's c10d ProcessGroupGloo.hpp includes: the addon's
#                     data-parallel training (native/dist.cc; docs/scale-out.md)
#   g++               compiles that addon and the codec addon
#   libjpeg62-turbo-dev, libwebp-dev
#                     the system's libjpeg-turbo and libwebp (the ones Debian's cv2 and Pillow use):
#                     the test-set builder's codec addon (native/codec/, scripts/build-codec.mjs;
#                     without them the builder falls back to sharp, same pixels, slower)
set -euo pipefail

# package name → a file it installs (checked instead of asking dpkg, so this also works where the
# binary came from elsewhere)
declare -A NEED=(
  [chromium]=/usr/bin/chromium
  [fonts-dejavu-core]=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
  [fonts-liberation]=/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf
  [libtorch-dev]=/usr/include/torch/csrc/api/include/torch/torch.h
  [libgloo-dev]=/usr/include/gloo/context.h
  [g++]=/usr/bin/g++
  [libjpeg62-turbo-dev]=/usr/include/jpeglib.h
  [libwebp-dev]=/usr/include/webp/encode.h
)
ORDER=(chromium fonts-dejavu-core fonts-liberation libtorch-dev libgloo-dev g++ libjpeg62-turbo-dev libwebp-dev)

missing=()
for pkg in "${ORDER[@]}"; do
  [[ -e "${NEED[$pkg]}" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: system packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: missing ${missing[*]}; run as root (or: sudo apt-get install -y ${missing[*]})" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# apt waits for another apt/dpkg run to finish instead of failing on the lock
APT=(apt-get -o DPkg::Lock::Timeout=300 -y --no-install-recommends)

echo "setup: installing ${missing[*]}"
if ! "${APT[@]}" install "${missing[@]}"; then
  # package lists absent or stale (fresh container): refresh once and retry
  apt-get -o DPkg::Lock::Timeout=300 update
  "${APT[@]}" install "${missing[@]}"
fi
