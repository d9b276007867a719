package providers

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"payroll/batch"
)

// Credentials are the providers' secrets. They come only from the
// environment (or a 0600 file named by NAME_FILE), never from flags or the
// config (docs/design.md §5).
type Credentials struct {
	KopoKopoClientID, KopoKopoClientSecret, KopoKopoAPIKey string
	KiotaPayAPIKey, KiotaPayAPISecret                      string
}

// LoadCredentials reads the five credentials. An error names a NAME_FILE
// that cannot be read or that others may read.
func LoadCredentials() (Credentials, error) {
	var c Credentials
	var errs []error
	for _, v := range c.fields() {
		val, err := Secret(v.name)
		errs = append(errs, err)
		*v.dst = val
	}
	return c, errors.Join(errs...)
}

type credField struct {
	name     string
	provider batch.ProviderName
	dst      *string
}

func (c *Credentials) fields() []credField {
	return []credField{
		{"KOPOKOPO_CLIENT_ID", batch.KopoKopo, &c.KopoKopoClientID},
		{"KOPOKOPO_CLIENT_SECRET", batch.KopoKopo, &c.KopoKopoClientSecret},
		{"KOPOKOPO_API_KEY", batch.KopoKopo, &c.KopoKopoAPIKey},
		{"KIOTAPAY_API_KEY", batch.KiotaPay, &c.KiotaPayAPIKey},
		{"KIOTAPAY_API_SECRET", batch.KiotaPay, &c.KiotaPayAPISecret},
	}
}

// Missing names, sorted, the credentials the providers in use need and
// do not have.
func (c Credentials) Missing(used map[batch.ProviderName]bool) []string {
	var out []string
	for _, f := range c.fields() {
		if used[f.provider] && *f.dst == "" {
			out = append(out, f.name)
		}
	}
	slices.Sort(out)
	return out
}

// Secret reads the environment variable name, or the file named by
// name_FILE, which must not be readable by group or others.
func Secret(name string) (string, error) {
	if v := os.Getenv(name); v != "" {
		return v, nil
	}
	path := os.Getenv(name + "_FILE")
	if path == "" {
		return "", nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s_FILE: %s is readable by others (mode %v); chmod 600 it", name, path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}
