package sandbox

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/s3cache/s3cache/internal/config"
)

// unsetenv unsets variables for the rest of the test and restores them after it.
func unsetenv(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		t.Setenv(name, "") // registers the restore
		os.Unsetenv(name)
	}
}

// TestDefaultConfig checks that defaultConfig is what config.Load gives when no
// variable is set.
func TestDefaultConfig(t *testing.T) {
	// config.Load reads S3CACHE_X, and X itself when S3CACHE_X is unset.
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		name := typ.Field(i).Tag.Get("envconfig")
		unsetenv(t, config.Prefix+"_"+name, name)
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, config.Prefix+"_") {
			unsetenv(t, k)
		}
	}
	want, err := config.Load()
	if err != nil {
		t.Fatalf("config.Load in an empty environment: %v", err)
	}
	got, err := defaultConfig()
	if err != nil {
		t.Fatalf("defaultConfig: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaultConfig() = %+v\nconfig.Load() = %+v", got, want)
	}
}
