package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// printCompletion writes the completion script for shell. The scripts are
// made from conda-sign's own option definitions, so they cannot fall out
// of step with them: key-name options complete the names in KEYS,
// --pin-file a file, --completion a shell, and other arguments files.
func printCompletion(w io.Writer, shell string) error {
	var o options
	fs := newFlagSet(&o)
	var flags []*pflag.Flag
	fs.VisitAll(func(f *pflag.Flag) { flags = append(flags, f) })
	var script string
	switch shell {
	case "bash":
		script = bashCompletion(flags)
	case "zsh":
		script = zshCompletion(flags)
	case "fish":
		script = fishCompletion(flags)
	default:
		return usageError(fmt.Sprintf("--completion %q: the shells are bash, zsh and fish", shell))
	}
	_, err := io.WriteString(w, script)
	return err
}

// argKind says what a flag's argument is: "" for none, "key", "file",
// "shell", or "word" (anything, not completed).
func argKind(f *pflag.Flag) string {
	switch {
	case f.Value.Type() == "bool":
		return ""
	case f.Name == "key" || f.Name == "input-key" || f.Name == "trusted-key":
		return "key"
	case f.Name == "pin-file":
		return "file"
	case f.Name == "completion":
		return "shell"
	}
	return "word"
}

// spellings are the ways to write a flag on the command line.
func spellings(f *pflag.Flag) []string {
	var s []string
	if f.Shorthand != "" {
		s = append(s, "-"+f.Shorthand)
	}
	return append(s, "--"+f.Name)
}

const keysList = `ls "${CONDA_KEYS_DIR:-$HOME/.conda/keys}" 2>/dev/null | sed 's/\.pub$//' | sort -u`

func bashCompletion(flags []*pflag.Flag) string {
	var all, keys, files, words []string
	for _, f := range flags {
		sp := spellings(f)
		all = append(all, sp...)
		switch argKind(f) {
		case "key":
			keys = append(keys, sp...)
		case "file":
			files = append(files, sp...)
		case "word":
			words = append(words, sp...)
		}
	}
	return `# bash completion for conda-sign; load it with: source <(conda-sign --completion bash)
_conda_sign() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    case "$prev" in
        ` + strings.Join(keys, "|") + `)
            COMPREPLY=($(compgen -W "$(` + keysList + `)" -- "$cur")); return ;;
        ` + strings.Join(files, "|") + `)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --completion)
            COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")); return ;;
        ` + strings.Join(words, "|") + `)
            return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "` + strings.Join(all, " ") + `" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o filenames -F _conda_sign conda-sign
`
}

func zshCompletion(flags []*pflag.Flag) string {
	var b strings.Builder
	b.WriteString("#compdef conda-sign\n# zsh completion for conda-sign; install it with:\n#   conda-sign --completion zsh > \"${fpath[1]}/_conda-sign\"\n")
	b.WriteString("_conda_sign_keys() { compadd -- ${(f)\"$(" + keysList + ")\"} }\n")
	b.WriteString("_arguments -s \\\n")
	for _, f := range flags {
		desc := strings.NewReplacer("[", "(", "]", ")", "'", "").Replace(f.Usage)
		repeat := ""
		if f.Value.Type() == "stringArray" {
			repeat = "*"
		}
		arg := ""
		switch argKind(f) {
		case "key":
			arg = ":key name:_conda_sign_keys"
		case "file":
			arg = ":file:_files"
		case "shell":
			arg = ":shell:(bash zsh fish)"
		case "word":
			arg = ":" + f.Name + ":"
		}
		for _, sp := range spellings(f) {
			fmt.Fprintf(&b, "  '%s%s[%s]%s' \\\n", repeat, sp, desc, arg)
		}
	}
	b.WriteString("  '*:file:_files'\n")
	return b.String()
}

func fishCompletion(flags []*pflag.Flag) string {
	var b strings.Builder
	b.WriteString("# fish completion for conda-sign; install it with:\n#   conda-sign --completion fish > ~/.config/fish/completions/conda-sign.fish\n")
	b.WriteString(`function __conda_sign_keys
    set -l d $HOME/.conda/keys
    set -q CONDA_KEYS_DIR; and set d $CONDA_KEYS_DIR
    ls $d 2>/dev/null | sed 's/\.pub$//' | sort -u
end
`)
	for _, f := range flags {
		line := "complete -c conda-sign"
		if f.Shorthand != "" {
			line += " -s " + f.Shorthand
		}
		line += " -l " + f.Name
		switch argKind(f) {
		case "key":
			line += " -x -a '(__conda_sign_keys)'"
		case "file":
			line += " -r -F"
		case "shell":
			line += " -x -a 'bash zsh fish'"
		case "word":
			line += " -x"
		}
		line += " -d '" + strings.ReplaceAll(f.Usage, "'", "") + "'"
		b.WriteString(line + "\n")
	}
	return b.String()
}
