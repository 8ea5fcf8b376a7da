package testenv

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestStandalone(t *testing.T) {
	s := NewStandalone("testenv-standalone")
	dir := s.TempDir()
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		t.Fatalf("TempDir %s: %v", dir, err)
	}
	var order []int
	s.Cleanup(func() { order = append(order, 1) })
	s.Cleanup(func() { order = append(order, 2) })

	err := s.Do(func() {
		s.Fatalf("server %s is missing", "x")
		t.Error("Fatalf returned")
	})
	var f *Failure
	if !errors.As(err, &f) || f.Msg != "server x is missing" {
		t.Errorf("Do after Fatalf: got %v, want a *Failure with the message", err)
	}
	if err := s.Do(func() { s.Skip("no goaws") }); err == nil {
		t.Error("Do after Skip: got nil, want a failure (outside a test a missing server is an error)")
	}
	if !s.Failed() {
		t.Error("Failed: got false after Fatalf")
	}
	if err := s.Do(func() {}); err != nil {
		t.Errorf("Do without failure: got %v", err)
	}

	s.Close()
	if want := []int{2, 1}; !slices.Equal(order, want) {
		t.Errorf("cleanup order: got %v, want %v (last registered first)", order, want)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("TempDir %s after Close: %v, want it removed", dir, err)
	}
}

func TestStandalone_StartRedis(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		missing(t, "redis-server not found on PATH: install it with %s", installHint)
	}
	s := NewStandalone("testenv-standalone")
	defer s.Close()
	var r *Redis
	if err := s.Do(func() { r = StartRedis(s) }); err != nil {
		t.Fatal(err)
	}
	if r.PID() == 0 {
		t.Error("PID of a running server: got 0")
	}
	s.Close()
	if r.PID() != 0 {
		t.Errorf("PID after Close: got %d, want 0 (stopped)", r.PID())
	}
}
