package main

import (
	"os"
	"strconv"
	"strings"
)

// Process accounting from /proc (Linux): CPU seconds and peak RSS.

const clockTicks = 100 // USER_HZ on Linux

// cpuOf returns the CPU seconds a process used; with children, also what
// its reaped children used (PostgreSQL's postmaster reaps its backends).
func cpuOf(pid int, children bool) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	// Fields after the command (which may contain spaces) start after ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+2:])
	// f[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
	get := func(field int) float64 {
		v, _ := strconv.ParseFloat(f[field-3], 64)
		return v
	}
	t := get(14) + get(15)
	if children {
		t += get(16) + get(17)
	}
	return t / clockTicks
}

// ppidOf returns a process's parent.
func ppidOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+2:])
	n, _ := strconv.Atoi(f[1])
	return n
}

// treeCPU is the CPU of a process, its reaped children and its live
// children (one level: PostgreSQL's backends).
func treeCPU(root int) float64 {
	total := cpuOf(root, true)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppidOf(pid) == root {
			total += cpuOf(pid, false)
		}
	}
	return total
}

// peakRSSMB is a process's peak resident set (VmHWM) in MB.
func peakRSSMB(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// treePSSMB is the current proportional set size of a process and its
// live children, in MB: each shared page (PostgreSQL's shared buffers)
// counted once across them, where RSS would count it per process.
func treePSSMB(root int) float64 {
	rss := func(pid int) float64 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
		if err != nil {
			return 0
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "Pss:") {
				f := strings.Fields(line)
				if len(f) >= 2 {
					kb, _ := strconv.ParseFloat(f[1], 64)
					return kb / 1024
				}
			}
		}
		return 0
	}
	total := rss(root)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && ppidOf(pid) == root {
			total += rss(pid)
		}
	}
	return total
}
