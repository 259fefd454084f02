package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowserver"
	"github.com/hankogate/hankogate/flowserver/signing"
	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/transfer"
	"github.com/hankogate/hankogate/flowserver/useradmin"
)

// The `users` and `keys` commands administer the embedded backend's database. They are
// registered with Caddy, so every Caddy binary built with this module has them. They find
// the database through the same config the server runs (or --db) and work on the file
// directly, in short transactions, so they are safe while servers use it.

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "users",
		Usage: "list|add|delete|sessions|revoke|export|import [--config <path> [--adapter <name>] | --db <file>]",
		Short: "Administers the users of the hanko embedded backend",
		Long: `
Lists, adds and deletes the users of the hanko handler's embedded backend, ends their
sessions, and exports or imports them in Hanko's own user import/export format (the
format of "hanko user export" and "hanko user import").

The database is the one the embedded backend of the config uses (--config, --adapter
as for "caddy run"; by default the Caddyfile in the current directory), or --db. Run the
command as the user and with the environment the server runs with: the default database
lies in Caddy's data directory. It is safe to run while the server is running.

A user is named by id, e-mail address or username.
`,
		CobraFunc: func(cmd *cobra.Command) {
			databaseFlags(cmd)
			cmd.AddCommand(
				leaf("list [--json]", "Lists every user with address, sign-in methods and last sign-in", cobra.NoArgs,
					adminCmd(false, func(c *cobra.Command, _ []string, a *useradmin.Admin) error {
						users, err := a.List(c.Context())
						if err != nil {
							return err
						}
						return useradmin.WriteUsers(c.OutOrStdout(), users, flagBool(c, "json"))
					}), jsonFlag),
				leaf("add <email> [--username <name>]", "Creates a user with a verified address, who then signs in with a passcode", cobra.ExactArgs(1),
					adminCmd(true, func(c *cobra.Command, args []string, a *useradmin.Admin) error {
						username, _ := c.Flags().GetString("username")
						u, err := a.Add(c.Context(), args[0], username)
						if err != nil {
							return err
						}
						fmt.Fprintf(c.OutOrStdout(), "added user %s <%s>; they sign in with a passcode sent to that address and can add a passkey or password on the account page\n",
							u.ID, strings.ToLower(strings.TrimSpace(args[0])))
						return nil
					}), func(c *cobra.Command) { c.Flags().String("username", "", "Username of the new user") }),
				leaf("delete <user>", "Deletes a user with addresses, credentials and sessions", cobra.ExactArgs(1),
					adminCmd(false, func(c *cobra.Command, args []string, a *useradmin.Admin) error {
						u, err := a.Delete(c.Context(), args[0])
						if err != nil {
							return err
						}
						fmt.Fprintf(c.OutOrStdout(), "deleted user %s; gateways refuse its sessions within their revalidate interval\n", u.ID)
						return nil
					})),
				leaf("sessions <user> [--json]", "Lists a user's sessions", cobra.ExactArgs(1),
					adminCmd(false, func(c *cobra.Command, args []string, a *useradmin.Admin) error {
						_, sessions, err := a.Sessions(c.Context(), args[0])
						if err != nil {
							return err
						}
						return useradmin.WriteSessions(c.OutOrStdout(), sessions, flagBool(c, "json"))
					}), jsonFlag),
				leaf("revoke <user>", "Ends every session of a user", cobra.ExactArgs(1),
					adminCmd(false, func(c *cobra.Command, args []string, a *useradmin.Admin) error {
						u, n, err := a.Revoke(c.Context(), args[0])
						if err != nil {
							return err
						}
						fmt.Fprintf(c.OutOrStdout(), "ended %d session(s) of user %s; gateways refuse them within their revalidate interval\n", n, u.ID)
						return nil
					})),
				leaf("export -o <file>", "Writes every user in Hanko's user import/export format", cobra.NoArgs, cmdExport,
					func(c *cobra.Command) {
						c.Flags().StringP("output", "o", "", "Output file (- for standard output); it holds password hashes and TOTP secrets")
						_ = c.MarkFlagRequired("output")
					}),
				leaf("import -i <file> [--dry-run]", "Imports users in Hanko's user import/export format, all or nothing", cobra.NoArgs, cmdImport,
					func(c *cobra.Command) {
						c.Flags().StringP("input", "i", "", "Input file (- for standard input)")
						c.Flags().Bool("dry-run", false, "Check everything, write nothing")
						_ = c.MarkFlagRequired("input")
					}),
			)
		},
	})

	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "keys",
		Usage: "list|rotate|remove <kid> [--config <path> [--adapter <name>] | --db <file>]",
		Short: "Manages the session signing keys of the hanko embedded backend",
		Long: `
Lists the embedded backend's JWT signing keys, makes a new key sign from now on (rotate),
or deletes a replaced key at once (remove), ending every session it signed.

Servers running on the same database accept tokens of a new key at once and sign with it,
or drop a removed key, within a minute. The database is found as for "users".
`,
		CobraFunc: func(cmd *cobra.Command) {
			databaseFlags(cmd)
			cmd.AddCommand(
				leaf("list", "Lists the signing keys, newest (signing) first", cobra.NoArgs,
					func(c *cobra.Command, _ []string, db *dbTarget) error {
						st, err := db.open(c.Context(), false)
						if err != nil {
							return err
						}
						defer st.Close()
						keys, err := st.Read().SigningKeys(c.Context())
						if err != nil {
							return err
						}
						return writeKeys(c.OutOrStdout(), keys)
					}),
				leaf("rotate", "Creates a new signing key; older keys stay valid until their sessions expire", cobra.NoArgs,
					func(c *cobra.Command, _ []string, db *dbTarget) error {
						return db.withKeys(c, func(r *signing.Ring) error { return r.Rotate(c.Context()) })
					}),
				leaf("remove <kid>", "Deletes a replaced signing key, ending the sessions it signed", cobra.ExactArgs(1),
					func(c *cobra.Command, args []string, db *dbTarget) error {
						return db.withKeys(c, func(r *signing.Ring) error { return r.Remove(c.Context(), args[0]) })
					}),
			)
		},
	})
}

// leaf builds a subcommand whose run gets the database named by the parent's flags.
func leaf(use, short string, args cobra.PositionalArgs, run func(*cobra.Command, []string, *dbTarget) error, flags ...func(*cobra.Command)) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Args: args, RunE: func(c *cobra.Command, a []string) error {
		return run(c, a, targetFromFlags(c))
	}}
	for _, f := range flags {
		f(c)
	}
	return c
}

func databaseFlags(cmd *cobra.Command) {
	cmd.PersistentFlags().StringP("config", "c", "", "Configuration file whose hanko handler names the database (default: ./Caddyfile)")
	cmd.PersistentFlags().StringP("adapter", "a", "", "Name of the config adapter")
	cmd.PersistentFlags().String("db", "", "The embedded backend's SQLite file (instead of a config)")
}

func jsonFlag(c *cobra.Command) { c.Flags().Bool("json", false, "Print JSON") }

func flagBool(c *cobra.Command, name string) bool {
	v, _ := c.Flags().GetBool(name)
	return v
}

// dbTarget names the database: a file, or a config whose embedded backend uses one.
type dbTarget struct {
	db, config, adapter string
}

func targetFromFlags(c *cobra.Command) *dbTarget {
	t := &dbTarget{}
	t.db, _ = c.Flags().GetString("db")
	t.config, _ = c.Flags().GetString("config")
	t.adapter, _ = c.Flags().GetString("adapter")
	return t
}

// serverConfig is the embedded backend's config: from the config's hanko handlers, or the
// defaults with --db.
func (t *dbTarget) serverConfig() (flowserver.Config, error) {
	if t.db != "" {
		if t.config != "" {
			return flowserver.Config{}, errors.New("give either --db or --config, not both")
		}
		cfg := flowserver.DefaultConfig()
		cfg.DBPath = t.db
		return cfg, nil
	}
	raw, _, _, err := caddycmd.LoadConfig(t.config, t.adapter)
	if err != nil {
		return flowserver.Config{}, err
	}
	if len(raw) == 0 {
		return flowserver.Config{}, errors.New("no config: give --config (and --adapter) as for caddy run, or --db")
	}
	return embeddedConfigIn(raw)
}

// embeddedConfigIn finds the embedded backend in a JSON config: every hanko handler without
// api (in any route or subroute) must use the same database.
func embeddedConfigIn(raw []byte) (flowserver.Config, error) {
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return flowserver.Config{}, fmt.Errorf("reading the config: %w", err)
	}
	found := map[string]flowserver.Config{}
	var walkErr error
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "hanko" {
				b, _ := json.Marshal(v)
				var h Handler
				if err := json.Unmarshal(b, &h); err != nil {
					walkErr = fmt.Errorf("a hanko handler in the config: %w", err)
					return
				}
				if h.API == "" {
					// Problems of other options (SMTP secrets from placeholders this shell may
					// lack) do not matter here: only the database and key settings are used.
					cfg, _ := h.Embedded.serverConfig(caddy.NewReplacer(), h.Prefix)
					abs, err := filepath.Abs(cfg.DBPath)
					if err != nil {
						walkErr = err
						return
					}
					cfg.DBPath, cfg.SMTP = abs, nil
					found[abs] = cfg
				}
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(doc)
	if walkErr != nil {
		return flowserver.Config{}, walkErr
	}
	switch len(found) {
	case 0:
		return flowserver.Config{}, errors.New("the config has no hanko handler with the embedded backend (without api)")
	case 1:
		for _, cfg := range found {
			return cfg, nil
		}
	}
	paths := make([]string, 0, len(found))
	for p := range found {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return flowserver.Config{}, fmt.Errorf("the config's embedded backends use several databases (%s): choose one with --db", strings.Join(paths, ", "))
}

// open opens the database; only create may make a new one (elsewhere a missing file means a
// wrong path, and an empty database would hide that).
func (t *dbTarget) open(ctx context.Context, create bool) (*store.Store, error) {
	cfg, err := t.serverConfig()
	if err != nil {
		return nil, err
	}
	return openDB(ctx, cfg.DBPath, create)
}

func openDB(ctx context.Context, path string, create bool) (*store.Store, error) {
	if !create {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no database at %s (the server has not run yet, or another config or --db is meant): %w", path, err)
		}
	}
	return store.Open(ctx, path)
}

// adminCmd is the run of a users subcommand that works with an Admin of the database
// (create: it may make a new database).
func adminCmd(create bool, fn func(c *cobra.Command, args []string, a *useradmin.Admin) error) func(*cobra.Command, []string, *dbTarget) error {
	return func(c *cobra.Command, args []string, db *dbTarget) error {
		st, err := db.open(c.Context(), create)
		if err != nil {
			return err
		}
		defer st.Close()
		return fn(c, args, useradmin.New(st, nil))
	}
}

// withKeys runs fn on the signing keys of the database, then prints them. It works on the
// store alone: a server opened here would start the background work of one (the mail
// outbox would send, to nowhere, passcode mails the running servers owe their users).
func (t *dbTarget) withKeys(c *cobra.Command, fn func(*signing.Ring) error) error {
	ctx := c.Context()
	cfg, err := t.serverConfig()
	if err != nil {
		return err
	}
	st, err := openDB(ctx, cfg.DBPath, false)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := fn(signing.New(st, zap.NewNop(), time.Now, cfg.KeyRotation, cfg.SessionLifetime)); err != nil {
		return err
	}
	keys, err := st.Read().SigningKeys(ctx)
	if err != nil {
		return err
	}
	return writeKeys(c.OutOrStdout(), keys)
}

func writeKeys(w io.Writer, keys []store.SigningKey) error {
	for i, k := range keys {
		role := "verifies until its sessions expire"
		if i == 0 {
			role = "signs new sessions"
		}
		if _, err := fmt.Fprintf(w, "%s  created %s  %s\n", k.KID, k.CreatedAt.UTC().Format(time.RFC3339), role); err != nil {
			return err
		}
	}
	return nil
}

func cmdExport(c *cobra.Command, _ []string, db *dbTarget) error {
	st, err := db.open(c.Context(), false)
	if err != nil {
		return err
	}
	defer st.Close()
	entries, err := transfer.Export(c.Context(), st)
	if err != nil {
		return err
	}
	out, _ := c.Flags().GetString("output")
	if out == "-" {
		return transfer.Write(c.OutOrStdout(), entries)
	}
	// The file holds password hashes and TOTP secrets: private to the owner, and complete
	// or absent (written beside and renamed).
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := transfer.Write(tmp, entries); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	fmt.Fprintf(c.ErrOrStderr(), "exported %d user(s) to %s\n", len(entries), out)
	return nil
}

func cmdImport(c *cobra.Command, _ []string, db *dbTarget) error {
	in, _ := c.Flags().GetString("input")
	var data []byte
	var err error
	if in == "-" {
		data, err = io.ReadAll(c.InOrStdin())
	} else {
		data, err = os.ReadFile(in)
	}
	if err != nil {
		return err
	}
	entries, err := transfer.Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	cfg, err := db.serverConfig()
	if err != nil {
		return err
	}
	path, dry := cfg.DBPath, flagBool(c, "dry-run")
	if _, err := os.Stat(path); dry && errors.Is(err, fs.ErrNotExist) {
		// A dry run creates nothing: without a database the users are checked against an
		// empty one that is thrown away.
		tmp, err := os.MkdirTemp("", "hankogate-dry-run-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		path = filepath.Join(tmp, "users.db")
	}
	st, err := openDB(c.Context(), path, true)
	if err != nil {
		return err
	}
	defer st.Close()
	sum, err := transfer.Import(c.Context(), st, entries, dry, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	verb := "imported"
	if dry {
		verb = "dry run, nothing written; would import"
	}
	fmt.Fprintf(c.OutOrStdout(), "%s %s\n", verb, sum)
	return nil
}
