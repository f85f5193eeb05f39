package monitor_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/internal/monitor"
)

// fullConfig uses every key of rekor-monitor's identity monitor
// configuration.
const fullConfig = `
startIndex: 10
endIndex: 20
monitoredValues:
  certIdentities:
    - certSubject: user@domain\.com
    - certSubject: https://github\.com/org/repo/\.github/workflows/release\.yml@.*
      issuers:
        - https://token\.actions\.githubusercontent\.com
  subjects:
    - subject@domain\.com
  fingerprints:
    - A0B1C2D3E4F5
  oidMatchers:
    fulcioExtensions:
      build-config-uri:
        - https://example.com/owner/repository/build-config.yml
      issuer:
        - https://accounts.example.com
    oidExtensions:
      - objectIdentifier: [1, 3, 6, 1, 4, 1, 57264, 1, 1]
        extensionValues:
          - https://github.com/login/oauth
    customExtensions:
      - objectIdentifier: 1.3.6.1.4.1.57264.1.9
        extensionValues:
          - https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@v1.4.0
outputIdentities: identities.txt
outputIdentitiesFormat: json
logInfoFile: logInfo.txt
identityMetadataFile: metadata.json
githubIssue:
  title: found
caRootsFile: roots.pem
ctShards: [a]
`

func TestParseConfig(t *testing.T) {
	c, err := monitor.ParseConfig([]byte(fullConfig))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if *c.StartIndex != 10 || *c.EndIndex != 20 || c.LogInfoFile != "logInfo.txt" || *c.OutputIdentitiesFormat != "json" {
		t.Errorf("parsed %+v", c)
	}
	if diff := cmp.Diff([]string{"caRootsFile", "ctShards", "githubIssue"}, c.Unsupported()); diff != "" {
		t.Errorf("unsupported keys (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		name, config, want string
	}{
		{"unknown key", "monitoredValues:\n  certIdentity:\n    - certSubject: a\n", "field certIdentity not found"},
		{"nothing to watch", "logInfoFile: x\n", "names nothing to watch"},
		{"bad subject regexp", "monitoredValues:\n  certIdentities:\n    - certSubject: '('\n", "certIdentities[0].certSubject"},
		{"bad issuer regexp", "monitoredValues:\n  certIdentities:\n    - certSubject: a\n      issuers: ['(']\n", "issuers[0]"},
		{"unknown fulcio extension", "monitoredValues:\n  oidMatchers:\n    fulcioExtensions:\n      colour: [red]\n", `unknown extension "colour"`},
		{"bad custom oid", "monitoredValues:\n  oidMatchers:\n    customExtensions:\n      - objectIdentifier: 1.x\n        extensionValues: [a]\n", "want dot notation"},
		{"no extension values", "monitoredValues:\n  oidMatchers:\n    customExtensions:\n      - objectIdentifier: 1.2.3\n", "no extensionValues"},
		{"bad format", "monitoredValues:\n  subjects: [a]\noutputIdentitiesFormat: xml\n", "want text or json"},
		{"indexes reversed", "startIndex: 5\nendIndex: 4\nmonitoredValues:\n  subjects: [a]\n", "startIndex at most endIndex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := monitor.ParseConfig([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
