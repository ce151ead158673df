// Incremental sync of key results from the OKR Enterprise Hub public API (v1), net/http only.
//
//	OKR_API_KEY=okr_live_... OKR_API_URL=https://okr.example.com go run . state.json
//
// Authenticates with an API key, follows next_cursor through every page, backs off on 429 for
// Retry-After seconds, warns on Deprecation headers and keeps an updated_since watermark.
package main

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"
)

type KeyResult struct {
	ID           string  `json:"id"`
	ObjectiveID  string  `json:"objective_id"`
	Title        string  `json:"title"`
	CurrentValue float64 `json:"current_value"`
	Progress     float64 `json:"progress"`
	Health       string  `json:"health"`
	UpdatedAt    string  `json:"updated_at"`
}

type page struct {
	Data       []KeyResult `json:"data"`
	HasMore    bool        `json:"has_more"`
	NextCursor *string     `json:"next_cursor"`
}

type Client struct {
	BaseURL, APIKey string
	HTTP            *http.Client
	Retries, Pages  int
}

func (c *Client) get(path string, query url.Values, out any) error {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequest("GET", c.BaseURL+path+"?"+query.Encode(), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return err
		}
		if resp.Header.Get("Deprecation") != "" {
			fmt.Fprintf(os.Stderr, "deprecated: %s (sunset %s)\n", path, resp.Header.Get("Sunset"))
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 8 {
			resp.Body.Close()
			c.Retries++
			seconds, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			if seconds < 1 {
				seconds = 1
			}
			jitter := time.Duration(rand.Intn(250)) * time.Millisecond
			time.Sleep(time.Duration(seconds)*time.Second + jitter)
			continue
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 400 {
			var problem map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&problem)
			return fmt.Errorf("%d %v: %v", resp.StatusCode, problem["code"], problem["detail"])
		}
		c.Pages++
		return json.NewDecoder(resp.Body).Decode(out)
	}
}

// KeyResults returns every key result matching the filters, page after page.
func (c *Client) KeyResults(filters url.Values) ([]KeyResult, error) {
	var all []KeyResult
	for {
		var p page
		if err := c.get("/api/v1/public/key-results", filters, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Data...)
		if !p.HasMore || p.NextCursor == nil {
			return all, nil
		}
		filters.Set("cursor", *p.NextCursor)
	}
}

func main() {
	stateFile := "okr-sync-state.json"
	if len(os.Args) > 1 {
		stateFile = os.Args[1]
	}
	pageSize := "100"
	if len(os.Args) > 2 {
		pageSize = os.Args[2]
	}
	baseURL := os.Getenv("OKR_API_URL")
	if baseURL == "" {
		baseURL = "http://127.0.0.1:8000"
	}
	state := map[string]string{}
	if raw, err := os.ReadFile(stateFile); err == nil {
		_ = json.Unmarshal(raw, &state)
	}
	client := &Client{BaseURL: baseURL, APIKey: os.Getenv("OKR_API_KEY"), HTTP: &http.Client{Timeout: 30 * time.Second}}
	started := time.Now().UTC()
	filters := url.Values{"limit": {pageSize}, "sort": {"updated_at"}}
	if since, ok := state["updated_since"]; ok {
		filters.Set("updated_since", since)
	}
	changed, err := client.KeyResults(filters)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	state["updated_since"] = started.Add(-5 * time.Second).Format(time.RFC3339Nano)
	raw, _ := json.Marshal(state)
	_ = os.WriteFile(stateFile, raw, 0o600)
	for _, kr := range changed {
		fmt.Printf("%s\t%s\t%.2f\t%s\n", kr.ID, kr.Health, kr.Progress, kr.Title)
	}
	fmt.Printf("synced %d key results (%d pages, %d retries after 429)\n", len(changed), client.Pages, client.Retries)
}
