package sandbox

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/s3cache/s3cache/internal/config"
)

// defaultConfig returns the configuration with every field at the default its
// `default` struct tag names (what config.Load gives when no variable is set), without
// reading the environment.
func defaultConfig() (config.Config, error) {
	var c config.Config
	v := reflect.ValueOf(&c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		def, ok := t.Field(i).Tag.Lookup("default")
		if !ok {
			continue
		}
		if err := setDefault(v.Field(i), def); err != nil {
			return config.Config{}, fmt.Errorf("default of config.Config.%s: %w", t.Field(i).Name, err)
		}
	}
	return c, nil
}

var durationType = reflect.TypeFor[time.Duration]()

func setDefault(f reflect.Value, def string) error {
	if f.Type() == durationType {
		d, err := time.ParseDuration(def)
		f.SetInt(int64(d))
		return err
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(def)
	case reflect.Bool:
		b, err := strconv.ParseBool(def)
		f.SetBool(b)
		return err
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(def, 10, 64)
		f.SetInt(n)
		return err
	case reflect.Float64:
		x, err := strconv.ParseFloat(def, 64)
		f.SetFloat(x)
		return err
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported type %s", f.Type())
		}
		f.Set(reflect.ValueOf(strings.Split(def, ",")))
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}
