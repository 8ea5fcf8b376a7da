package systemd_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/s3cache/s3cache/systemd"
)

// runScript runs a script of this directory with extra environment; it never runs without
// DESTDIR unless the test asks for it explicitly (refusal tests).
func runScript(t *testing.T, script string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func wantFile(t *testing.T, path string, mode fs.FileMode, content string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	if got := fi.Mode().Perm(); got != mode {
		t.Errorf("%s: mode %04o, want %04o", path, got, mode)
	}
	if content != "" {
		b, _ := os.ReadFile(path)
		if string(b) != content {
			t.Errorf("%s: content differs from the source file", path)
		}
	}
}

func wantAbsent(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); err == nil {
		t.Errorf("%s: still there", path)
	}
}

// TestInstall_Destdir stages prebuilt binaries twice into a scratch root: files and modes
// are right, an edited env file is kept, and uninstall.sh removes what it should.
func TestInstall_Destdir(t *testing.T) {
	bin := filepath.Dir(s3cached(t))
	dest := t.TempDir()
	env := []string{"DESTDIR=" + dest}

	out, err := runScript(t, "install.sh", env, "--bin-dir", bin)
	if err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	envFile := filepath.Join(dest, "etc/s3cache/s3cached.env")
	wantFile(t, filepath.Join(dest, "usr/local/bin/s3cached"), 0o755, "")
	wantFile(t, filepath.Join(dest, "etc/systemd/system/s3cached.service"), 0o644, systemd.Unit)
	wantFile(t, envFile, 0o640, systemd.EnvExample)
	wantFile(t, filepath.Join(dest, "etc/s3cache/s3cached.env.example"), 0o644, systemd.EnvExample)
	passwordFile := filepath.Join(dest, "etc/s3cache/redis-password")
	wantFile(t, passwordFile, 0o600, "")
	if b, err := os.ReadFile(passwordFile); err != nil || len(b) != 0 {
		t.Errorf("%s: %q, %v; want an empty file", passwordFile, b, err)
	}
	if fi, err := os.Stat(filepath.Join(dest, "etc/s3cache")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("etc/s3cache: got %v %v, want a directory with mode 0750", fi.Mode(), err)
	}
	if strings.Contains(out, "systemctl") && !strings.Contains(out, "systemctl not called") {
		t.Errorf("install.sh with DESTDIR talked about systemctl:\n%s", out)
	}

	// Second run: idempotent, keeps the edited env file but not the mode and owner an
	// editor or a copy gave it.
	edited := "AWS_REGION=eu-west-1\nS3CACHE_QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/123456789012/q\n"
	if err := os.WriteFile(envFile, []byte(edited), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(envFile, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(passwordFile, []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	if root {
		if err := os.Chown(envFile, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	out, err = runScript(t, "install.sh", env, "--bin-dir", bin)
	if err != nil {
		t.Fatalf("install.sh, second run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "kept "+envFile) {
		t.Errorf("second run: want a note that the env file was kept:\n%s", out)
	}
	wantFile(t, envFile, 0o640, edited)
	wantFile(t, passwordFile, 0o600, "s3cret\n")
	if fi, err := os.Stat(envFile); root && (err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 || fi.Sys().(*syscall.Stat_t).Gid != 0) {
		t.Errorf("%s: want it owned by root:root again (%v)", envFile, err)
	}
	wantFile(t, filepath.Join(dest, "etc/systemd/system/s3cached.service"), 0o644, systemd.Unit)
	v, err := exec.Command(filepath.Join(dest, "usr/local/bin/s3cached"), "--version").Output()
	if err != nil || !strings.Contains(string(v), "v0.0.0-systemd-test") {
		t.Errorf("installed s3cached --version: %q, %v", v, err)
	}

	// uninstall.sh keeps the configuration, drop-ins included, unless --purge; twice is fine.
	dropin := filepath.Join(dest, "etc/systemd/system/s3cached.service.d/override.conf")
	if err := os.MkdirAll(filepath.Dir(dropin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dropin, []byte("[Service]\nEnvironment=S3CACHE_REDIS_URL=rediss://:secret@r:6379/0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		out, err = runScript(t, "uninstall.sh", env)
		if err != nil {
			t.Fatalf("uninstall.sh: %v\n%s", err, out)
		}
		wantAbsent(t, filepath.Join(dest, "usr/local/bin/s3cached"))
		wantAbsent(t, filepath.Join(dest, "usr/local/bin/s3cache"))
		wantAbsent(t, filepath.Join(dest, "etc/systemd/system/s3cached.service"))
		wantFile(t, envFile, 0o640, edited)
		wantFile(t, dropin, 0o644, "")
	}
	out, err = runScript(t, "uninstall.sh", env, "--purge")
	if err != nil {
		t.Fatalf("uninstall.sh --purge: %v\n%s", err, out)
	}
	wantAbsent(t, filepath.Join(dest, "etc/s3cache"))
	wantAbsent(t, filepath.Dir(dropin))
}

// TestInstall_Builds runs install.sh's own build (go build ./cmd/...) into a scratch root
// and checks the version stamp.
func TestInstall_Builds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every command; skipped with -short")
	}
	if _, err := exec.LookPath(goTool()); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("go not in PATH and CI=true")
		}
		t.Skip("go not in PATH")
	}
	dest := t.TempDir()
	out, err := runScript(t, "install.sh", []string{"DESTDIR=" + dest, "VERSION=v1.2.3-test", "CGO_ENABLED=1"})
	if err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	for _, cmd := range []string{"s3cached", "s3cache"} {
		p := filepath.Join(dest, "usr/local/bin", cmd)
		// Both commands ship: an install.sh that stops installing either fails here.
		if _, err := os.Stat(p); err != nil {
			t.Errorf("install.sh did not install %s: %v\n%s", cmd, err, out)
			continue
		}
		v, err := exec.Command(p, "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(v), "v1.2.3-test") {
			t.Errorf("%s --version: %q, %v; want the stamped version v1.2.3-test", cmd, v, err)
		}
		// Static: built with CGO_ENABLED=0 even though the environment said 1.
		info, err := exec.Command(goTool(), "version", "-m", p).Output()
		if err != nil || !strings.Contains(string(info), "CGO_ENABLED=0") {
			t.Errorf("%s: want a static build (CGO_ENABLED=0); go version -m says:\n%s", cmd, info)
		}
	}
}

// TestInstall_BuildsAsTheTreeOwner: run as root on a tree another user owns, install.sh
// builds as that user (root never runs git or go there) and installs the result.
func TestInstall_BuildsAsTheTreeOwner(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every command from a cold cache; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to hand the tree to another user (CI runs as root)")
	}
	const nobody = 65534
	// A copy of the tracked files, owned by nobody, in directories nobody can reach.
	base, err := os.MkdirTemp("", "s3cache-install-owner-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(base, "src")
	files, err := exec.Command("git", "-C", "..", "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			continue // deleted in the work tree
		}
		if err := os.MkdirAll(filepath.Join(src, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, f), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("chown", "-R", fmt.Sprint(nobody), src).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	// The modules, from this machine's cache, served to the builder as a file proxy.
	modcache, err := exec.Command(goTool(), "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	proxy := filepath.Join(base, "proxy")
	if out, err := exec.Command("cp", "-r", filepath.Join(strings.TrimSpace(string(modcache)), "cache", "download"), proxy).CombinedOutput(); err != nil {
		t.Fatalf("copy the module cache: %v\n%s", err, out)
	}
	if out, err := exec.Command("chmod", "-R", "a+rX", proxy).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v\n%s", err, out)
	}

	dest := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(src, "systemd/install.sh"))
	cmd.Env = append(os.Environ(), "DESTDIR="+dest, "VERSION=v1.2.3-owner", "GOPROXY=file://"+proxy, "GOFLAGS=-mod=readonly", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "as nobody") {
		t.Errorf("install.sh did not say it built as the tree's owner, nobody:\n%s", out)
	}
	bin := filepath.Join(dest, "usr/local/bin/s3cached")
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 {
		t.Errorf("%s is owned by uid %d, want root", bin, st.Uid)
	}
	if v, err := exec.Command(bin, "--version").Output(); err != nil || !strings.Contains(string(v), "v1.2.3-owner") {
		t.Errorf("s3cached --version: %q, %v", v, err)
	}
}

// TestInstall_RefusesAnOwnerWithoutUser: a tree owned by a uid no user has cannot be
// built as its owner; install.sh says so rather than building as root or exiting mute.
func TestInstall_RefusesAnOwnerWithoutUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to hand the tree to another uid (CI runs as root)")
	}
	tree := t.TempDir()
	script, err := os.ReadFile("install.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tree, "systemd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "systemd/install.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tree, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	out, err := runScript(t, filepath.Join(tree, "systemd/install.sh"), []string{"DESTDIR=" + t.TempDir()})
	if err == nil || !strings.Contains(out, "uid 4242, which is no user here") {
		t.Errorf("got %v\n%s\nwant a refusal naming uid 4242", err, out)
	}
}

// TestInstall_Refuses checks that the scripts refuse to touch / without root, and a
// relative DESTDIR.
func TestInstall_Refuses(t *testing.T) {
	for _, script := range []string{"install.sh", "uninstall.sh"} {
		t.Run(script+"/RelativeDestdir", func(t *testing.T) {
			out, err := runScript(t, script, []string{"DESTDIR=relative/dir"})
			if err == nil || !strings.Contains(out, "DESTDIR must be an absolute path") {
				t.Errorf("got %v\n%s\nwant a refusal", err, out)
			}
		})
		t.Run(script+"/NotRoot", func(t *testing.T) {
			args := []string{"bash", script}
			if os.Geteuid() == 0 {
				setpriv := tool(t, "setpriv", "util-linux")
				args = append([]string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}, args...)
			}
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Env = append(os.Environ(), "DESTDIR=")
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "must run as root") || !strings.Contains(string(out), "DESTDIR") {
				t.Errorf("got %v\n%s\nwant a refusal naming root and DESTDIR", err, out)
			}
		})
	}
}

// TestScripts_Shellcheck runs shellcheck on the project's shell scripts: install.sh,
// uninstall.sh, the test command and the script that installs its dependencies. Without
// shellcheck the test is skipped, except under CI=true (install-test-deps.sh installs it).
func TestScripts_Shellcheck(t *testing.T) {
	sc := tool(t, "shellcheck", "shellcheck")
	if out, err := exec.Command(sc, "install.sh", "uninstall.sh", "../scripts/install-test-deps.sh", "../.ci/run").CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
