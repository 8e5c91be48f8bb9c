#!/usr/bin/env bash
# Installs ksi's build and run dependencies from Debian packages when any is missing.
# Used by jobs/quickstart.sh, jobs/test.sh and CI; safe to run again (does nothing when all are there).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin
  petsc-dev libscalapack-openmpi-dev libmumps-dev
  libfftw3-dev libfftw3-mpi-dev
  libhdf5-openmpi-dev
  libboost-program-options-dev
  libgtest-dev
  libopenblas-dev
  librandom123-dev
  python3 python3-numpy python3-h5py python3-h5py-serial python3-matplotlib
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "ksi: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
