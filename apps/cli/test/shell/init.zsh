# Sourced by capture.zsh in the shell under test: compinit, the script to test, compadd printing its matches.
PROMPT=
autoload -U compinit
compinit -u -d "${TMPDIR:-/tmp}/zcompdump-vt-harvest-$$"
source "$1"
bindkey '^M' undefined
bindkey '^J' undefined
bindkey '^I' complete-word
null-line () { print -r -- '__VT_MARK__' }
compprefuncs=( null-line )
comppostfuncs=( null-line exit )
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
zstyle ':completion:*' list-separator ''
zstyle ':completion:*' matcher-list ''
compadd () {
  # Calls that only ask (-O, -A, -D) are passed through.
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
    builtin compadd "$@"
    return $?
  fi
  typeset -a __hits
  builtin compadd -A __hits "$@"
  setopt localoptions norcexpandparam extendedglob
  typeset -A apre hpre hsuf asuf
  zparseopts -E P:=apre p:=hpre S:=asuf s:=hsuf
  local hit
  for hit in $__hits; do print -r -- "$IPREFIX$apre$hpre$hit$hsuf$asuf"; done
}
print ok
