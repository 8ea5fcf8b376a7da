package cfn_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTemplate_UserDataChecksGo runs the EC2 host's user data with stand-ins for dnf,
// curl, tar, aws and the rest (jq and sha256sum are real): it unpacks Go only when the
// download's SHA-256 is the one pinned in GoSha256 or, without it, the one go.dev
// publishes; and it writes the Redis password to a file only root may read.
func TestTemplate_UserDataChecksGo(t *testing.T) {
	for _, tool := range []string{"bash", "jq", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v (the test command installs jq)", tool, err)
		}
	}
	rt := loadRaw(t)
	tarball := []byte("the go1.26.8.linux-amd64.tar.gz that go.dev serves")
	sum := sha256.Sum256(tarball)
	good, bad := hex.EncodeToString(sum[:]), strings.Repeat("0", 64)

	for _, tc := range []struct {
		name      string
		pinned    string // GoSha256
		published string // in go.dev's JSON; "" = the file is not listed
		unpacks   bool
	}{
		{"published checksum matches", "", good, true},
		{"published checksum differs", "", bad, false},
		{"not published", "", "", false},
		{"pinned checksum matches", good, bad, true},
		{"pinned checksum differs", bad, good, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, rt, map[string]string{"GoSha256": tc.pinned, "GoVersion": "1.26.8"})
			data := rt.Resources["HostLaunchTemplate"].Properties["LaunchTemplateData"].(map[string]any)["UserData"]
			v, err := s.eval(data)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			root := filepath.Join(dir, "root")
			// The script's absolute paths, moved under the scratch root.
			script := strings.NewReplacer("/usr/local", root+"/usr/local", "/usr/bin/", root+"/usr/bin/", "/etc/s3cache", root+"/etc/s3cache").Replace(v.(string))
			if err := os.WriteFile(filepath.Join(dir, "user-data.sh"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			files := []map[string]any{}
			if tc.published != "" {
				files = append(files, map[string]any{"filename": "go1.26.8.linux-amd64.tar.gz", "sha256": tc.published})
			}
			release, _ := json.Marshal([]map[string]any{{"version": "go1.26.8", "files": files}})
			fake := map[string]string{
				"release.json": string(release),
				"go.tar.gz":    string(tarball),
			}
			for name, content := range fake {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			bin := filepath.Join(dir, "bin")
			stubs := map[string]string{
				"dnf":   `exit 0`,
				"uname": `echo x86_64`,
				"ln":    `exit 0`,
				"tar":   `echo "$@" >> "$DIR/unpacked"`,
				// curl URL → stdout, or curl -o FILE URL → FILE.
				"curl": `out=; for a; do case "$prev" in -fsSLo|-o) out=$a ;; esac; prev=$a; url=$a; done
case "$url" in
  *mode=json*) src=$DIR/release.json ;;
  */go1.26.8.linux-amd64.tar.gz) src=$DIR/go.tar.gz ;;
  *) echo "curl: unexpected $url" >&2; exit 22 ;;
esac
if [ -n "$out" ]; then cp "$src" "$out"; else cat "$src"; fi`,
				"aws":     `echo '{"username":"s3cache","password":"Pw0123456789abcdefXYZ"}'`,
				"install": `mkdir -p "${@: -1}"`,
			}
			if err := os.MkdirAll(bin, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, body := range stubs {
				if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/bash\n"+body+"\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command("bash", filepath.Join(dir, "user-data.sh"))
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "DIR="+dir)
			out, err := cmd.CombinedOutput()
			_, statErr := os.Stat(filepath.Join(dir, "unpacked"))
			unpacked := statErr == nil
			if unpacked != tc.unpacks || (err == nil) != tc.unpacks {
				t.Fatalf("unpacked %v, exit %v; want unpacked %v and success %v\n%s", unpacked, err, tc.unpacks, tc.unpacks, out)
			}
			if !tc.unpacks {
				return
			}
			pw := filepath.Join(root, "etc/s3cache/redis-password")
			fi, err := os.Stat(pw)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("redis-password: mode %04o, want 0600", fi.Mode().Perm())
			}
			if b, _ := os.ReadFile(pw); string(b) != "Pw0123456789abcdefXYZ\n" {
				t.Errorf("redis-password: %q, want the secret's password", b)
			}
			if strings.Contains(string(out), "Pw0123456789abcdefXYZ") {
				t.Errorf("the user data's trace (the console log) shows the password:\n%s", out)
			}
		})
	}
}
