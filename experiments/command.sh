# Sourced by the experiment scripts. command_line SCRIPT [MORE_SCRIPTS...]: the command that ran SCRIPT, as
# "VAR=value ... bash SCRIPT" with every setting VAR=${VAR:-default} of the scripts that the environment gave.
command_line() {
    local out="" name value
    for name in $(grep -oh '\b\([A-Z_][A-Z0-9_]*\)=\${\1:-' "$@" | cut -d= -f1 | awk '!seen[$0]++'); do
        [ -n "${!name+x}" ] || continue
        value=${!name}
        if [[ ! "$value" =~ ^[A-Za-z0-9_./:,=+@-]*$ ]]; then value="'${value//\'/\'\\\'\'}'"; fi
        out+="$name=$value "
    done
    echo "${out}bash $1"
}

# last_line: copy stdin to stderr and print its last line (the id a main_unlearn.py run prints). Through >&2, not
# `tee /dev/stderr`: reopening /dev/stderr truncates a log the user redirected with `> log 2>&1`; and through a
# file, not a process substitution, which may still be writing when the script ends.
last_line() {
    local copy
    copy=$(mktemp)
    tee "$copy" >&2
    tail -n 1 "$copy"
    rm -f "$copy"
}
