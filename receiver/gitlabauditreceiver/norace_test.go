//go:build !race

package gitlabauditreceiver

const raceEnabled = false
