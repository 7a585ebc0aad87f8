#!/usr/bin/env zsh
# Prints the completions zsh offers for a command line, one per line: `capture.zsh <script> <line>`. An interactive
# zsh runs in a pseudo-terminal (zpty) with the completion script sourced and compadd wrapped to print what it is
# given; <line> is typed followed by TAB; the matches come between two marker lines. After the technique of zsh-capture-completion (Valodim, MIT).
zmodload zsh/zpty || { print -u2 "no zsh/zpty"; exit 2 }
script=$1
line=$2
zpty z zsh -f -i
zpty -w z "source ${(q)0:A:h}/init.zsh ${(q)script}"
local out
repeat 8; do
  zpty -r z out
  [[ $out == *ok* ]] && break
done
zpty -w z "$line"$'\t'
integer tog=0
while zpty -r z; do :; done | while IFS= read -r out; do
  if [[ $out == *__VT_MARK__* ]]; then
    (( tog++ )) && exit 0 || continue
  fi
  (( tog )) && print -r -- "${out%$'\r'}"
done
