#!/bin/sh
# Report the NVIDIA GPUs of this node; exit 1 with a clear message when it has
# fewer than it should.
#   gpu-report.sh NVIDIA_SMI PROC_DIR MIN_GPUS
# The GPUs are read from `NVIDIA_SMI -L`; when that command is missing or fails,
# from PROC_DIR/*/information (the NVIDIA kernel driver's own listing).
smi=$1
proc=$2
need=$3
gpus=""
source=""
notes=""

if command -v "$smi" >/dev/null 2>&1; then
    if listing=$("$smi" -L 2>&1); then
        gpus=$(printf '%s\n' "$listing" | grep '^GPU [0-9]')
        source="$smi -L"
        [ -n "$gpus" ] || notes="'$smi -L' lists no GPU"
    else
        notes="'$smi -L' failed: $listing"
    fi
else
    notes="$smi is not on PATH"
fi

if [ -z "$gpus" ] && [ -d "$proc" ]; then
    for info in "$proc"/*/information; do
        [ -f "$info" ] || continue
        model=$(sed -n 's/^Model:[[:space:]]*//p' "$info")
        bus=$(basename "$(dirname "$info")")
        line="GPU at $bus: ${model:-unknown model}"
        gpus=$(printf '%s\n%s' "$gpus" "$line" | sed '/^$/d')
    done
    source="$proc"
elif [ -z "$gpus" ]; then
    notes="${notes:+$notes; }$proc does not exist"
fi

count=0
if [ -n "$gpus" ]; then
    count=$(printf '%s\n' "$gpus" | wc -l | tr -d ' ')
fi

if [ "$count" -eq 0 ]; then
    echo "gpu-smoke: no GPU found on $(hostname): ${notes:-$source lists none}." >&2
    echo "gpu-smoke: is this node's label one with GPUs, and is the NVIDIA driver loaded?" >&2
    exit 1
fi

echo "gpu-smoke: $count GPU(s) on $(hostname), from $source:"
printf '%s\n' "$gpus"
if [ "$source" = "$smi -L" ]; then
    details=$("$smi" --query-gpu=index,name,memory.total,driver_version \
        --format=csv,noheader 2>/dev/null) && {
        echo "index, name, memory, driver:"
        printf '%s\n' "$details"
    }
fi

if [ "$count" -lt "$need" ]; then
    echo "gpu-smoke: found $count GPU(s), but the job needs at least $need." >&2
    exit 1
fi
