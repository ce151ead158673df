// A small client for the OKR Enterprise Hub public API (v1) for Node 20+: fetch only.
// Authenticates with an API key, follows next_cursor through every page, backs off on 429 for
// Retry-After seconds, warns on Deprecation headers, and keeps an updated_since watermark.

export class ApiError extends Error {
  constructor(status, problem) {
    super(`${status} ${problem.code}: ${problem.detail}`);
    this.status = status;
    this.problem = problem;
  }
}

export class OkrHubClient {
  constructor(apiKey, baseUrl = "http://127.0.0.1:8000", { maxRetries = 8 } = {}) {
    this.apiKey = apiKey;
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.maxRetries = maxRetries;
    this.retriesAfter429 = 0;
    this.pagesFetched = 0;
  }

  async get(path, params = {}) {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    for (let attempt = 0; ; attempt++) {
      const response = await fetch(url, {
        headers: { Authorization: `Bearer ${this.apiKey}`, "User-Agent": "okr-hub-js-example" },
      });
      if (response.headers.has("deprecation")) {
        console.warn(`deprecated: ${path} (sunset ${response.headers.get("sunset")})`);
      }
      if (response.status === 429 && attempt < this.maxRetries) {
        this.retriesAfter429++;
        const seconds = Number(response.headers.get("retry-after") ?? "1");
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000 + Math.random() * 250));
        continue;
      }
      if (!response.ok) throw new ApiError(response.status, await response.json());
      this.pagesFetched++;
      return response.json();
    }
  }

  async *paginate(path, params = {}) {
    const query = { ...params };
    for (;;) {
      const page = await this.get(path, query);
      yield* page.data;
      if (!page.has_more) return;
      query.cursor = page.next_cursor;
    }
  }

  objectives(filters = {}) {
    return this.paginate("/api/v1/public/objectives", filters);
  }

  keyResults(filters = {}) {
    return this.paginate("/api/v1/public/key-results", filters);
  }

  checkIns(keyResultId, filters = {}) {
    return this.paginate(`/api/v1/public/key-results/${keyResultId}/check-ins`, filters);
  }
}

// Key results changed since the last sync (all the first time); the state holds the watermark.
export async function syncKeyResults(client, state, { pageSize = 100 } = {}) {
  const started = new Date();
  const filters = { limit: pageSize, sort: "updated_at", updated_since: state.updated_since };
  const changed = [];
  for await (const kr of client.keyResults(filters)) changed.push(kr);
  state.updated_since = new Date(started.getTime() - 5000).toISOString();
  return changed;
}
