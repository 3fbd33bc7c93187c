package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Exit statuses of agenthost (the root command's help lists them).
const (
	exitFailed  = 1  // a replay diverged, logs differ, a check or command failed
	exitCorrupt = 2  // damaged input: a corrupt replay log, an invalid topology, not an ONNX model
	exitMissing = 3  // cannot replay or run: a module, model, key or kind is missing
	exitUsage   = 64 // EX_USAGE: an unknown command or flag, a flag value that does not parse, a wrong number of arguments
)

// exitCodesHelp ends the root command's help.
const exitCodesHelp = `Exit status (every command):
  0   success
  1   failure: a replay diverged, logs differ, a module or topology check
      failed, or another error
  2   damaged input: a corrupt or torn replay log (header included), an
      invalid topology (agenthost check), a file that is not a replay log
      or not an ONNX model (agenthost model inspect)
  3   cannot replay or run: a module, model, key or kind the log or the
      topology needs was not given or not found (or more fuel than
      --max-fuel); a deterministic model's file too, unless
      --unchecked-models
  64  usage error: an unknown command or flag, a flag value that does not
      parse, a wrong number of arguments (a value out of range is 1)
The daemon's client verbs (input, subscribe, spawn, stop, status, pause,
resume, step) exit 2 when no daemon answers and 3 when it refuses access.`

// usageError marks err as a usage error: exit 64.
func usageError(err error) error { return &exitError{exitUsage, err} }

// usageErrorf is usageError(fmt.Errorf(format, args...)).
func usageErrorf(format string, args ...any) error {
	return usageError(fmt.Errorf(format, args...))
}

// markUsageErrors makes cobra's usage errors exit 64 in root and every
// command under it: flags that do not parse or are unknown
// (FlagErrorFunc), wrong argument counts (each command's Args), and an
// unknown command (root's Args, with cobra's suggestions). root with no
// arguments prints its help.
func markUsageErrors(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%w (usage: %s)", err, c.UseLine())
	})
	root.SuggestionsMinimumDistance = 2
	root.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		hint := "; see agenthost --help"
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			hint = fmt.Sprintf(" (did you mean %s?)", quoteAll(s))
		}
		return usageErrorf("unknown command %q%s", args[0], hint)
	}
	root.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c != root && c.Args != nil {
			args := c.Args
			c.Args = func(c *cobra.Command, a []string) error {
				if err := args(c, a); err != nil {
					return usageErrorf("%w (usage: %s)", err, c.UseLine())
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, " or ")
}
