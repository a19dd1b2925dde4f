package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/logto-bff/bff/backend/internal/config"
	"github.com/logto-bff/bff/backend/internal/logtoadmin"
)

// Environment variables of `bff logto` only (the BFF itself never reads
// them).
const (
	envM2MAppID           = "LOGTO_M2M_APP_ID"
	envM2MAppSecret       = "LOGTO_M2M_APP_SECRET"
	envManagementResource = "LOGTO_MANAGEMENT_RESOURCE"
	envDiscordClientID    = "DISCORD_CLIENT_ID"
	envDiscordSecret      = "DISCORD_CLIENT_SECRET"
)

// errDoctorFailed is doctor's exit status 1 (the report says why).
var errDoctorFailed = errors.New("logto doctor: some checks failed")

// runLogto is `bff logto setup|doctor [flags]`.
func runLogto(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		return writeLogtoUsage(stdout)
	}
	switch args[0] {
	case "setup":
		return runLogtoSetup(ctx, args[1:], getenv, stdout, stderr)
	case "doctor":
		return runLogtoDoctor(ctx, args[1:], getenv, stdout, stderr)
	}
	return usageError{fmt.Sprintf("unknown command \"logto %s\" (see bff logto --help)", args[0])}
}

func writeLogtoUsage(w io.Writer) error {
	_, err := fmt.Fprint(w, `Usage:
  bff logto setup [flags]   create or repair, in Logto, everything the BFF needs (idempotent)
  bff logto doctor [flags]  check the BFF's settings against Logto (read-only); exit 1 on a failure

Both read LOGTO_ENDPOINT, BFF_PUBLIC_URL, LOGTO_RESOURCES, LOGTO_APP_ID, LOGTO_APP_SECRET
(and doctor LOGTO_SCOPES, BFF_CLOCK_SKEW) from the environment, and the Management API
credentials of a machine-to-machine app with the "Logto Management API access" role:
  LOGTO_M2M_APP_ID, LOGTO_M2M_APP_SECRET  (doctor: optional, for the deeper checks)
  LOGTO_MANAGEMENT_RESOURCE               default https://default.logto.app/api (self-hosted);
                                          https://<tenant-id>.logto.app/api on Logto Cloud
  DISCORD_CLIENT_ID, DISCORD_CLIENT_SECRET  the Discord connector (or the flags below)

setup flags:
  --app-name NAME                 the Traditional web app (default "Logto BFF")
  --discord-client-id ID          configure the Discord connector and add it to the sign-in experience
  --discord-client-secret SECRET
  --discord-scope SCOPE           default "identify email"
  --skip-required-identifiers=false  leave socialSignIn.skipRequiredIdentifiers alone (default:
                                  turn it on with Discord, or a new Discord user must pick a username)
  --resource-scopes "A B"         scopes each LOGTO_RESOURCES resource must have
  --env-file PATH                 write LOGTO_ENDPOINT, LOGTO_APP_ID, LOGTO_APP_SECRET, BFF_PUBLIC_URL,
                                  LOGTO_RESOURCES there (mode 0600, other lines kept); without it no
                                  secret is printed
doctor flags:
  --env-file PATH                 read settings from this file too (the environment wins)
`)
	return err
}

// logtoEnv reads settings from the environment, then from the env file.
type logtoEnv struct {
	getenv func(string) string
	file   map[string]string
}

func (e logtoEnv) get(k string) string {
	if v := e.getenv(k); v != "" {
		return v
	}
	return e.file[k]
}

// checkEndpoint validates LOGTO_ENDPOINT and returns it without a trailing
// slash.
func checkEndpoint(raw string) (string, error) {
	raw = strings.TrimRight(raw, "/")
	if raw == "" {
		return "", usageError{config.EnvLogtoEndpoint + " is required (e.g. https://tenant.logto.app)"}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usageError{fmt.Sprintf("%s must be an http(s) URL, got %q", config.EnvLogtoEndpoint, raw)}
	}
	if strings.HasSuffix(u.Path, "/oidc") {
		return "", usageError{fmt.Sprintf("%s is the tenant endpoint without /oidc, got %q", config.EnvLogtoEndpoint, raw)}
	}
	return raw, nil
}

func checkPublicURL(raw string) (string, error) {
	raw = strings.TrimRight(raw, "/")
	if raw == "" {
		return "", usageError{config.EnvPublicURL + " is required (e.g. https://app.example.com): the app's URIs are built from it"}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
		return "", usageError{fmt.Sprintf("%s must be an origin such as https://app.example.com, got %q", config.EnvPublicURL, raw)}
	}
	return raw, nil
}

func adminClient(env logtoEnv, endpoint string) *logtoadmin.Client {
	return logtoadmin.New(logtoadmin.Config{
		Endpoint:  endpoint,
		AppID:     env.get(envM2MAppID),
		AppSecret: env.get(envM2MAppSecret),
		Resource:  env.get(envManagementResource),
	})
}

func runLogtoSetup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bff logto setup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	appName := fs.String("app-name", "Logto BFF", "")
	discordID := fs.String("discord-client-id", "", "")
	discordSecret := fs.String("discord-client-secret", "", "")
	discordScope := fs.String("discord-scope", logtoadmin.DefaultDiscordScope, "")
	skipIDs := fs.Bool("skip-required-identifiers", true, "")
	resourceScopes := fs.String("resource-scopes", "", "")
	envFile := fs.String("env-file", "", "")
	fs.Usage = func() { _ = writeLogtoUsage(stderr) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q (see bff logto --help)", fs.Arg(0))}
	}
	env := logtoEnv{getenv: getenv}
	if *envFile != "" {
		f, err := readEnvFile(*envFile)
		if err != nil {
			return err
		}
		env.file = f
	}
	endpoint, err := checkEndpoint(env.get(config.EnvLogtoEndpoint))
	if err != nil {
		return err
	}
	public, err := checkPublicURL(env.get(config.EnvPublicURL))
	if err != nil {
		return err
	}
	if env.get(envM2MAppID) == "" || env.get(envM2MAppSecret) == "" {
		return usageError{"LOGTO_M2M_APP_ID and LOGTO_M2M_APP_SECRET are required: create a machine-to-machine app in Console → Applications with the role \"Logto Management API access\""}
	}
	urls := config.Config{PublicURL: public}
	plan := logtoadmin.Plan{
		AppName:               *appName,
		AppID:                 env.get(config.EnvLogtoAppID),
		AppSecret:             env.get(config.EnvLogtoAppSecret),
		RedirectURI:           urls.RedirectURL(),
		PostLogoutRedirectURI: urls.PostLogoutRedirectURL(),
		BackchannelLogoutURI:  urls.BackchannelLogoutURL(),
		Resources:             strings.Fields(env.get(config.EnvLogtoResources)),
		Scopes:                strings.Fields(*resourceScopes),
	}
	dID, dSecret := firstNonEmpty(*discordID, env.get(envDiscordClientID)), firstNonEmpty(*discordSecret, env.get(envDiscordSecret))
	if dID != "" || dSecret != "" {
		if dID == "" || dSecret == "" {
			return usageError{"Discord needs both --discord-client-id and --discord-client-secret (or DISCORD_CLIENT_ID and DISCORD_CLIENT_SECRET)"}
		}
		plan.Discord = &logtoadmin.DiscordPlan{ClientID: dID, ClientSecret: dSecret, Scope: *discordScope, SkipRequiredIdentifiers: *skipIDs}
	}
	res, err := logtoadmin.Setup(ctx, adminClient(env, endpoint), plan)
	if err != nil {
		return fmt.Errorf("logto setup: %w", err)
	}
	for _, it := range res.Items {
		fmt.Fprintf(stdout, "%-10s %s\n", it.Action, it.What)
	}
	if res.DiscordRedirectURI != "" {
		fmt.Fprintf(stdout, "Discord developer portal → your application → OAuth2 → Redirects must list: %s\n", res.DiscordRedirectURI)
	}
	if *envFile == "" {
		fmt.Fprintf(stdout, "%s=%s\n%s is not printed: run again with --env-file PATH to write it (or copy it from the console)\n",
			config.EnvLogtoAppID, res.AppID, config.EnvLogtoAppSecret)
		return nil
	}
	vals := []envValue{
		{config.EnvLogtoEndpoint, endpoint},
		{config.EnvLogtoAppID, res.AppID},
		{config.EnvLogtoAppSecret, res.AppSecret},
		{config.EnvPublicURL, public},
	}
	if len(plan.Resources) > 0 {
		vals = append(vals, envValue{config.EnvLogtoResources, strings.Join(plan.Resources, " ")})
	}
	action, err := writeEnvFile(*envFile, vals)
	if err != nil {
		return fmt.Errorf("logto setup: %w", err)
	}
	fmt.Fprintf(stdout, "%-10s env file %s (mode 0600)\n", action, *envFile)
	return nil
}

func runLogtoDoctor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bff logto doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", "", "")
	fs.Usage = func() { _ = writeLogtoUsage(stderr) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q (see bff logto --help)", fs.Arg(0))}
	}
	env := logtoEnv{getenv: getenv}
	if *envFile != "" {
		f, err := readEnvFile(*envFile)
		if err != nil {
			return err
		}
		env.file = f
	}
	endpoint, err := checkEndpoint(env.get(config.EnvLogtoEndpoint))
	if err != nil {
		return err
	}
	public, err := checkPublicURL(env.get(config.EnvPublicURL))
	if err != nil {
		return err
	}
	skew := time.Minute
	if v := env.get(config.EnvClockSkew); v != "" {
		if skew, err = time.ParseDuration(v); err != nil || skew <= 0 {
			return usageError{fmt.Sprintf("%s must be a positive Go duration, got %q", config.EnvClockSkew, v)}
		}
	}
	scopes := env.get(config.EnvLogtoScopes)
	if scopes == "" {
		scopes = config.DefaultScopes
	}
	urls := config.Config{PublicURL: public}
	cfg := logtoadmin.DoctorConfig{
		Endpoint:              endpoint,
		AppID:                 env.get(config.EnvLogtoAppID),
		AppSecret:             env.get(config.EnvLogtoAppSecret),
		RedirectURI:           urls.RedirectURL(),
		PostLogoutRedirectURI: urls.PostLogoutRedirectURL(),
		BackchannelLogoutURI:  urls.BackchannelLogoutURL(),
		Scopes:                strings.Fields(scopes),
		Resources:             strings.Fields(env.get(config.EnvLogtoResources)),
		ClockSkew:             skew,
		Discord:               env.get(envDiscordClientID) != "",
	}
	if env.get(envM2MAppID) != "" || env.get(envM2MAppSecret) != "" {
		cfg.Admin = adminClient(env, endpoint)
	}
	checks := logtoadmin.Doctor(ctx, cfg)
	for _, c := range checks {
		switch {
		case !c.OK:
			line := "FAIL  " + c.Name + ": " + c.Problem
			if c.Fix != "" {
				line += " — " + c.Fix
			}
			fmt.Fprintln(stdout, line)
		case c.Skipped != "":
			fmt.Fprintf(stdout, "skip  %s: %s\n", c.Name, c.Skipped)
		default:
			fmt.Fprintf(stdout, "ok    %s\n", c.Name)
		}
	}
	if logtoadmin.Failed(checks) {
		return errDoctorFailed
	}
	return nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
