package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/monitor"
	"hallmark.dev/internal/setup"
)

func monitorCmd(e *env) *cobra.Command {
	var (
		server, trustedRoot, config, witnessPolicy, webhook, output string
		once                                                        bool
		interval                                                    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "monitor --server URL --trusted-root FILE --config FILE [--once | --interval D]",
		Short: "Watch the transparency log and the CT log for entries of the identities in a rekor-monitor configuration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server == "" || trustedRoot == "" || config == "" {
				return withHint(errors.New("--server, --trusted-root and --config are required"),
					"hallmark monitor --server http://127.0.0.1:5005 --trusted-root trust/trusted_root.json --config monitor.yaml --once")
			}
			if once == (interval > 0) {
				return withHint(errors.New("give exactly one of --once and --interval"), "--once checks once and exits; --interval 1h runs until stopped")
			}
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			data, err := os.ReadFile(config)
			if err != nil {
				return fmt.Errorf("read config: %w", err)
			}
			cfg, err := monitor.ParseConfig(data)
			if err != nil {
				return fmt.Errorf("%s: %w", config, err)
			}
			for _, k := range cfg.Unsupported() {
				e.warn("%s: %s is not supported and is ignored (hallmark monitor prints, writes outputIdentities and posts to --webhook)", config, k)
			}
			tr, err := setup.ReadTrustedRoot(trustedRoot)
			if err != nil {
				return err
			}
			state := cfg.LogInfoFile
			if state == "" {
				state = "logInfo.txt"
			}
			logs, err := monitor.LogsFromTrustedRoot(tr, server, state)
			if err != nil {
				return err
			}
			policy, err := readWitnessPolicyFlag(witnessPolicy)
			if err != nil {
				return err
			}
			m, err := monitor.New(cfg, monitor.Options{Logs: logs, Policy: policy, Webhook: webhook, HTTPClient: &http.Client{Timeout: 60 * time.Second}})
			if err != nil {
				return err
			}
			if once {
				r, err := m.RunOnce(cmd.Context())
				e.printMonitorReport(r, output, nil)
				if err != nil {
					return alarmHint(err)
				}
				if r.Unparsed > 0 {
					return fmt.Errorf("%d log entries could not be parsed (reported above)", r.Unparsed)
				}
				return nil
			}
			seen := map[string]uint64{}
			err = m.Run(cmd.Context(), interval, func(r *monitor.Report, err error) {
				e.printMonitorReport(r, output, seen)
				var alarm *monitor.AlarmError
				if err != nil && !errors.As(err, &alarm) { // an alarm ends the run and is printed then
					e.warn("%v (retrying in %s)", err, interval)
				}
			})
			return alarmHint(err)
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "the hallmark server whose logs to follow (its transparency log URL in the trusted root)")
	cmd.Flags().StringVar(&trustedRoot, "trusted-root", "", "trusted_root.json holding the logs' keys")
	cmd.Flags().StringVar(&config, "config", "", "a rekor-monitor YAML configuration (monitoredValues, logInfoFile, outputIdentities...)")
	cmd.Flags().BoolVar(&once, "once", false, "check once and exit (non-zero on an alarm or an entry that cannot be parsed)")
	cmd.Flags().DurationVar(&interval, "interval", 0, "check every interval until stopped or an alarm")
	cmd.Flags().StringVar(&witnessPolicy, "witness-policy", "", "a C2SP tlog-policy file: every checkpoint must carry its quorum's cosignatures")
	cmd.Flags().StringVar(&webhook, "webhook", "", "POST each round's events and alarm, as JSON, to this URL")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json (one JSON object per line)")
	return cmd
}

// alarmHint adds to an alarm what to do about it.
func alarmHint(err error) error {
	var alarm *monitor.AlarmError
	if errors.As(err, &alarm) {
		return withHint(err, "the log showed this monitor something it must never show; the saved checkpoint (the last good one) was kept: keep it and the log's answers as evidence")
	}
	return err
}

// printMonitorReport prints a round's events, one per line, and a summary
// of the checkpoints verified; given seen (the sizes of earlier rounds, as
// a service), the summary only when a log grew.
func (e *env) printMonitorReport(r *monitor.Report, output string, seen map[string]uint64) {
	if r == nil {
		return
	}
	if seen != nil {
		grew := false
		for origin, size := range r.Checkpoints {
			grew = grew || seen[origin] != size
			seen[origin] = size
		}
		if !grew && len(r.Events) == 0 {
			return
		}
	}
	for _, ev := range r.Events {
		if output == "json" {
			if b, err := json.Marshal(ev); err == nil {
				e.printf("%s\n", b)
				continue
			}
		}
		e.printf("%s\n", ev)
	}
	var parts []string
	for origin, size := range r.Checkpoints {
		parts = append(parts, fmt.Sprintf("%s at size %d", origin, size))
	}
	if len(parts) > 0 {
		sort.Strings(parts)
		e.info("verified %s; %d events", strings.Join(parts, ", "), len(r.Events))
	}
}
