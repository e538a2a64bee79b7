// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/promtext"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// which Linux fixes at 100 for user space on every architecture it
// exports /proc to.
const userHZ = 100

// collector is a collector process started by this program, or the
// stream benchmark's bare net/http server (bare.go).
type collector struct {
	name        string
	cmd         *exec.Cmd
	log         *os.File
	endpoint    string // host:port of the receiver under test
	metricsPort int    // the collector's own Prometheus telemetry; 0: none
	exited      chan struct{}
	waitErr     error
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startCollector starts bin with config, giving it the receiver endpoint
// (BENCH_ENDPOINT), the telemetry port (BENCH_METRICS_PORT) and env
// through the environment, and waits until its telemetry port, and the
// receiver's port when listens is set, accept connections.
func startCollector(ctx context.Context, name, bin, config, workDir string, listens bool, env map[string]string) (*collector, error) {
	return startProcess(ctx, name, []string{bin, "--config", config}, workDir, true, listens, env)
}

// startProcess starts argv as startCollector starts a collector; without
// telemetry the process gets no BENCH_METRICS_PORT and only its endpoint
// is waited for.
func startProcess(ctx context.Context, name string, argv []string, workDir string, telemetry, listens bool, env map[string]string) (*collector, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &collector{name: name, endpoint: "127.0.0.1:" + strconv.Itoa(port), exited: make(chan struct{})}
	if telemetry {
		if c.metricsPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, err
	}
	c.log, err = os.Create(filepath.Join(workDir, name+".log"))
	if err != nil {
		return nil, err
	}
	c.cmd = exec.Command(argv[0], argv[1:]...)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	c.cmd.Env = append(os.Environ(), "BENCH_ENDPOINT="+c.endpoint)
	var wait []string
	if telemetry {
		c.cmd.Env = append(c.cmd.Env, "BENCH_METRICS_PORT="+strconv.Itoa(c.metricsPort))
		wait = append(wait, "127.0.0.1:"+strconv.Itoa(c.metricsPort))
	}
	for k, v := range env {
		c.cmd.Env = append(c.cmd.Env, k+"="+v)
	}
	if err := c.cmd.Start(); err != nil {
		_ = c.log.Close()
		return nil, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	if listens {
		wait = append(wait, c.endpoint)
	}
	if err := c.waitReady(ctx, wait, 60*time.Second); err != nil {
		_ = c.stop()
		return nil, fmt.Errorf("%s: %w (see %s)", name, err, c.log.Name())
	}
	return c, nil
}

func (c *collector) pid() int { return c.cmd.Process.Pid }

// waitReady waits until every address accepts connections.
func (c *collector) waitReady(ctx context.Context, addrs []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, addr := range addrs {
		for {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				_ = conn.Close()
				break
			}
			select {
			case <-c.exited:
				return fmt.Errorf("the collector exited: %w", c.waitErr)
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not listening after %s", addr, timeout)
			}
		}
	}
	return nil
}

// sleep waits for d, or fails when ctx ends or the collector exits first.
func (c *collector) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.exited:
		return fmt.Errorf("the collector exited: %w (see %s)", c.waitErr, c.log.Name())
	case <-time.After(d):
		return nil
	}
}

// stop asks the collector to shut down and kills it if it does not.
func (c *collector) stop() error {
	defer func() { _ = c.log.Close() }()
	select {
	case <-c.exited:
		return c.waitErr
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return nil
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return errors.New(c.name + " did not stop within 20s and was killed")
	}
}

// cpuTime returns the CPU time the process used so far, all threads.
func cpuTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(raw))
}

// parseStatCPU reads utime+stime from the text of /proc/<pid>/stat.
func parseStatCPU(stat string) (time.Duration, error) {
	// The command name may hold spaces and parentheses: fields start
	// after the last ')'.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state): utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	return time.Duration(u+s) * time.Second / userHZ, nil
}

// peakRSS returns VmHWM, the peak resident set size, in bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	return parseStatusKB(f, "VmHWM")
}

func parseStatusKB(r io.Reader, key string) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed %s line %q", key, sc.Text())
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in /proc status", key)
}

// metric returns the sum of the samples of a metric, over every label set
// whose labels include all of match, from the collector's Prometheus
// telemetry.
func (c *collector) metric(ctx context.Context, client *http.Client, name string, match map[string]string) (float64, error) {
	var v float64
	err := c.scrape(ctx, client, func(r io.Reader) (err error) {
		v, err = promtext.Sum(r, name, match)
		return err
	})
	return v, err
}

// scrape reads the collector's Prometheus telemetry with read.
func (c *collector) scrape(ctx context.Context, client *http.Client, read func(io.Reader) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", c.metricsPort), http.NoBody)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("telemetry answered %s", resp.Status)
	}
	return read(resp.Body)
}
