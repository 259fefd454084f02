// Command load is the sign-up load benchmark: N virtual users, each a browser without
// JavaScript with its own loopback address, sign up through the gateway's HTML pages (the
// passcode comes from an SMTP sink in this process), log out, log in with the password and
// then make authenticated requests. It starts the gateway itself (Caddy in this process,
// the embedded backend mailing to the sink, or -api for a real Hanko) and prints throughput,
// latency per step, errors by kind, goroutines and heap before and after, and the bound
// that bcrypt alone sets on sign-ups, measured in the same run. See bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"time"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.Users, "users", 200, "virtual users")
	flag.DurationVar(&cfg.Ramp, "ramp", 10*time.Second, "users start evenly spread over this time (sign-up and login phases)")
	flag.IntVar(&cfg.Requests, "requests", 20, "authenticated requests per user after the login")
	flag.StringVar(&cfg.API, "api", "", "Hanko public API URL; empty runs the embedded backend")
	flag.StringVar(&cfg.SMTP, "smtp", "127.0.0.1:0", "where the SMTP sink listens (with -api: where that Hanko sends its mail)")
	flag.DurationVar(&cfg.RequestTimeout, "request-timeout", 2*time.Minute, "bound on one request")
	flag.DurationVar(&cfg.FlowTimeout, "flow-timeout", 0, "the gateway's bound on a Flow API call (hanko's timeout option; 0: its default)")
	flag.DurationVar(&cfg.Timeout, "timeout", 15*time.Minute, "bound on the whole run")
	flag.IntVar(&cfg.HashSamples, "hash-samples", 5, "bcrypt measurements for the bound (median)")
	flag.StringVar(&cfg.LogLevel, "log", "WARN", "level of the gateway's log on stderr (DEBUG, INFO, WARN, ERROR)")
	flag.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the users' phases (gateway and users: one process) to this file")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("load: ")

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	ctx, cancelRun := context.WithTimeout(ctx, cfg.Timeout)
	defer cancelRun()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// config is what the flags set.
type config struct {
	Users          int
	Ramp           time.Duration
	Requests       int
	API            string
	SMTP           string
	RequestTimeout time.Duration
	FlowTimeout    time.Duration
	Timeout        time.Duration
	HashSamples    int
	LogLevel       string
	CPUProfile     string
}

// run starts the gateway, drives the users through it and writes the report to out.
func run(ctx context.Context, cfg config, out io.Writer) (*report, error) {
	if cfg.Users < 1 {
		return nil, fmt.Errorf("-users must be at least 1")
	}
	cores := runtime.GOMAXPROCS(0)
	gw, err := startGateway(cfg)
	if err != nil {
		return nil, err
	}
	defer gw.stop()
	if err := gw.waitUp(ctx); err != nil {
		return nil, err
	}
	rep := &report{cfg: cfg, started: time.Now(), cores: cores}
	rep.hash = measureHash(cfg.HashSamples)
	rep.before = sample()
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
	}
	runUsers(ctx, cfg, gw, rep)
	if cfg.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	rep.after = settledSample()
	rep.print(out)
	return rep, nil
}
