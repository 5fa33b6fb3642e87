# Shared helpers for the testbed build stages (sourced, not executed).
# Every stage runs with `set -euo pipefail` and gets its inputs from the environment that
# images/testbed/builder.ts sets up (see the header of each stage).
need_env() {
  local v
  for v in "$@"; do
    [ -n "${!v:-}" ] || { echo "build stage $(basename "$0"): environment variable $v is not set (run the build through images/testbed/builder.ts)" >&2; exit 1; }
  done
}
# Package list files: one name per line, '#' comments and blank lines ignored.
read_list() { sed -e 's/#.*//' -e 's/[[:space:]]//g' "$1" | grep -v '^$'; }
# ostree marks deployment directories immutable (chattr +i): clear it before rm -rf.
rm_sysroot() {
  local d
  if [ -d "$1/ostree/deploy" ]; then
    for d in "$1"/ostree/deploy/*/deploy/*/; do chattr -i "$d" 2>/dev/null || true; done
  fi
  rm -rf "$1"
}
