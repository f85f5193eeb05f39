package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/quickstart"
)

func quickstartCmd(e *env) *cobra.Command {
	var dir string
	var keep bool
	cmd := &cobra.Command{
		Use:   "quickstart",
		Short: "Run the main job end to end on the embedded default, in seconds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				d, err := os.MkdirTemp("", "hallmark-quickstart-")
				if err != nil {
					return err
				}
				dir = d
				if !keep {
					defer os.RemoveAll(d)
				}
			}
			n := 0
			var commands []string
			err := quickstart.Run(cmd.Context(), quickstart.Config{Dir: dir, Report: func(s quickstart.Step) {
				if s.Detail == "" && s.Command == "" {
					e.printf("\n%s\n", s.Title)
					return
				}
				n++
				mark := "ok"
				if s.Rejected {
					mark = "rejected, as it should be"
				}
				e.printf("%d. %s [%s]\n", n, s.Title, mark)
				for _, line := range strings.Split(s.Detail, "\n") {
					e.printf("     %s\n", line)
				}
				if s.Command != "" {
					commands = append(commands, s.Command)
				}
			}})
			if err != nil {
				return err
			}
			e.printf("\nThe same by hand, against `hallmark serve`:\n")
			for _, c := range commands {
				e.printf("  %s\n", c)
			}
			if keep {
				e.printf("\nFiles kept in %s\n", dir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "working directory (default: a temporary one, removed afterwards)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary directory")
	return cmd
}
