
"use strict";
// The admin page's script. Every value from the server is shown through textContent,
// never as HTML, because scenario files and request paths are user input.
(() => {
  const POLL_INTERVAL_MS = 3000;
  const REQUEST_LIMIT = 20;
  // A reload under --watch adds no journal entry, so after this many polls without a full read
  // the page reads the whole state, scenario list included, whatever the journal shows.
  const FULL_REFRESH_POLLS = 10;

  const element = (id) => document.getElementById(id);
  // JSON of what each table shows, so that an unchanged table is not rebuilt
  // (rebuilding would drop a text selection and repeat it to screen readers).
  const renderedJson = new Map();
  let newestEntryKey = null;
  let scenarioChosenByUser = false;
  let pollTimer = null;
  let pollRunning = false;
  let pollAgain = false;
  let forceNextPoll = false;
  let pollsSinceFullRefresh = 0;

  async function call(method, path, body) {
    const options = { method, cache: "no-store", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = body;
    }
    const response = await fetch(path, options);
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (error) {
      data = null;
    }
    return { status: response.status, ok: response.ok, data };
  }

  function errorText(result) {
    const data = result.data;
    if (data && typeof data.message === "string") {
      return data.detail ? `${data.message} ${data.detail}` : data.message;
    }
    return `the server answered with status ${result.status}.`;
  }

  function changed(key, value) {
    const json = JSON.stringify(value);
    if (renderedJson.get(key) === json) {
      return false;
    }
    renderedJson.set(key, json);
    return true;
  }

  function text(value) {
    return value === null || value === undefined ? "" : String(value);
  }

  function row(values) {
    const tr = document.createElement("tr");
    for (const value of values) {
      const td = document.createElement("td");
      if (value instanceof Node) {
        td.append(value);
      } else {
        td.textContent = text(value);
      }
      tr.append(td);
    }
    return tr;
  }

  function timeElement(value) {
    const time = document.createElement("time");
    time.dateTime = text(value);
    time.textContent = text(value).replace("T", " ").replace("Z", "");
    return time;
  }

  function setMessage(id, message, isError) {
    const target = element(id);
    target.textContent = message;
    target.classList.toggle("status-error", Boolean(isError));
  }

  // --- Showing the state ---------------------------------------------------------------

  function showActive(active) {
    // NOTE: JSON.parse reads numbers as doubles, so a seed beyond 2^53 is shown rounded.
    element("active-name").textContent = text(active.name);
    element("active-description").textContent = text(active.description);
    element("active-seed").textContent = text(active.seed);
    element("active-profile").textContent = text(active.profile);
    element("active-version").textContent = text(active.version);
    if (!scenarioChosenByUser && active.name) {
      element("switch-name").value = active.name;
    }
  }

  function showScenarios(data) {
    const scenarios = Array.isArray(data.scenarios) ? data.scenarios : [];
    if (changed("scenario-names", scenarios.map((scenario) => scenario.name))) {
      const select = element("switch-name");
      const previous = select.value;
      select.replaceChildren(...scenarios.map((scenario) => new Option(text(scenario.name), text(scenario.name))));
      select.value = previous;
    }
    if (changed("scenarios", scenarios)) {
      element("scenarios-body").replaceChildren(...scenarios.map((scenario) => {
        const tr = row([scenario.name, scenario.description, scenario.builtin ? "built-in" : scenario.source,
                        scenario.active ? "active" : ""]);
        tr.classList.toggle("active", Boolean(scenario.active));
        return tr;
      }));
    }
    const rejected = Array.isArray(data.rejected) ? data.rejected : [];
    if (changed("rejected", rejected)) {
      element("rejected").hidden = rejected.length === 0;
      element("rejected-list").replaceChildren(...rejected.map((entry) => {
        const item = document.createElement("li");
        item.textContent = `${text(entry.name)}: ${(entry.problems || []).map(text).join(" ")}`;
        return item;
      }));
    }
  }

  function tokenList(tokens) {
    const list = document.createElement("ul");
    for (const token of tokens || []) {
      const item = document.createElement("li");
      const roles = Array.isArray(token.roles) ? token.roles.join(", ") : text(token.roles);
      item.textContent = `${text(token.username)} (${roles}): ${text(token.token)}`;
      list.append(item);
    }
    return list;
  }

  function showSessions(result) {
    // GET /__admin/sessions returns 404 on a server without sessions, which has none to show.
    let sessions = [];
    if (result.ok && result.data && Array.isArray(result.data.sessions)) {
      sessions = result.data.sessions;
    } else if (result.status !== 404) {
      setMessage("sessions-empty", `Sessions could not be read: ${errorText(result)}`, true);
      element("sessions-empty").hidden = false;
      element("sessions-table").hidden = true;
      renderedJson.delete("sessions");
      return;
    }
    if (!changed("sessions", sessions)) {
      return;
    }
    setMessage("sessions-empty", "No sessions.", false);
    element("sessions-empty").hidden = sessions.length > 0;
    element("sessions-table").hidden = sessions.length === 0;
    element("sessions-body").replaceChildren(...sessions.map((session) => row([
      session.id, session.scenario, session.seed, session.profile,
      timeElement(session.created_at), timeElement(session.last_used_at), tokenList(session.tokens),
    ])));
  }

  function pathWithQuery(entry) {
    const pairs = [];
    for (const [name, values] of Object.entries(entry.query || {})) {
      for (const value of values) {
        pairs.push(`${name}=${value}`);
      }
    }
    return pairs.length ? `${entry.path}?${pairs.join("&")}` : text(entry.path);
  }

  function showRequests(data) {
    const entries = Array.isArray(data.requests) ? data.requests : [];
    if (data.size === 0) {
      setMessage("requests-summary", "The request journal is off (serve --journal-size 0).", false);
    } else {
      setMessage("requests-summary",
                 `The ${entries.length} newest of the requests the server keeps (up to ${data.size}), newest first.`,
                 false);
    }
    if (!changed("requests", entries)) {
      return;
    }
    element("requests-body").replaceChildren(...entries.slice().reverse().map((entry) => row([
      timeElement(entry.time), entry.method, pathWithQuery(entry), entry.status, entry.operation, entry.scenario,
      entry.session === undefined || entry.session === null ? "" : entry.session,
    ])));
  }

  // --- Refreshing ----------------------------------------------------------------------

  async function refreshState() {
    const [active, sessions, scenarios] = await Promise.all([
      call("GET", "/__admin/scenario"), call("GET", "/__admin/sessions"), call("GET", "/__admin/scenarios"),
    ]);
    if (scenarios.ok) {
      showScenarios(scenarios.data);
    } else {
      setMessage("connection", `Scenarios could not be read: ${errorText(scenarios)}`, true);
    }
    if (active.ok) {
      showActive(active.data);
    } else {
      setMessage("connection", `The active scenario could not be read: ${errorText(active)}`, true);
    }
    showSessions(sessions);
  }

  function entryKey(entry) {
    return [entry.time, entry.method, entry.path, entry.status].join(" ");
  }

  // The entries after the newest one seen by the previous poll: all of them on the first
  // poll, and after the journal was cleared or overran the entries fetched.
  function newEntries(entries) {
    const keys = entries.map(entryKey);
    const seen = newestEntryKey === null ? -1 : keys.lastIndexOf(newestEntryKey);
    newestEntryKey = keys.length ? keys[keys.length - 1] : newestEntryKey;
    return entries.slice(seen + 1);
  }

  function isAdminRead(entry) {
    return (entry.method === "GET" || entry.method === "HEAD") && String(entry.path).startsWith("/__admin");
  }

  // The journal shows what happened since the last poll, so the state is read again only
  // after a request that may have changed it. The page's own reads of the state are admin
  // reads, so they do not trigger more reads. Without a journal, the state is read on every poll.
  // Each read of the state includes the scenario list, so a reload shows with the next read.
  async function pollOnce(forceState) {
    try {
      const requests = await call("GET", `/__admin/requests?limit=${REQUEST_LIMIT}`);
      let readState = forceState;
      if (requests.ok && requests.data) {
        const fresh = newEntries(Array.isArray(requests.data.requests) ? requests.data.requests : []);
        showRequests(requests.data);
        readState = readState || requests.data.size === 0 || fresh.some((entry) => !isAdminRead(entry));
      } else {
        setMessage("requests-summary", `Requests could not be read: ${errorText(requests)}`, true);
        readState = true;
      }
      if (readState) {
        await refreshState();
      }
      if (element("connection").classList.contains("status-error")) {
        setMessage("connection", "Connected again.", false);
      }
    } catch (error) {
      setMessage("connection", `coder-mock cannot be reached (${error.message}); retrying every few seconds.`, true);
    }
  }

  // Runs one poll at a time: a poll requested while one runs is folded into a second run.
  async function poll(forceState) {
    forceNextPoll = forceNextPoll || forceState;
    if (pollRunning) {
      pollAgain = true;
      return;
    }
    pollRunning = true;
    clearTimeout(pollTimer);
    try {
      do {
        pollAgain = false;
        pollsSinceFullRefresh += 1;
        const force = forceNextPoll || pollsSinceFullRefresh >= FULL_REFRESH_POLLS;
        forceNextPoll = false;
        if (force) {
          pollsSinceFullRefresh = 0;
        }
        await pollOnce(force);
      } while (pollAgain);
    } finally {
      pollRunning = false;
      if (!document.hidden) {
        pollTimer = setTimeout(() => poll(false), POLL_INTERVAL_MS);
      }
    }
  }

  // --- Actions -------------------------------------------------------------------------

  async function switchScenario(event) {
    event.preventDefault();
    const name = element("switch-name").value;
    const seed = element("switch-seed").value.trim();
    const profile = element("switch-profile").value;
    if (seed !== "" && !/^-?[0-9]+$/.test(seed)) {
      setMessage("action-result", `Invalid seed "${seed}": give an integer, such as 7, or leave it empty.`, true);
      element("switch-seed").focus();
      return;
    }
    // The seed is written into the JSON as typed, so a 64-bit seed keeps every digit.
    const fields = [`"name":${JSON.stringify(name)}`];
    if (seed !== "") {
      fields.push(`"seed":${seed}`);
    }
    if (profile !== "") {
      fields.push(`"profile":${JSON.stringify(profile)}`);
    }
    await act("PUT", "/__admin/scenario", `{${fields.join(",")}}`, "Switched to", "Switch failed");
  }

  async function act(method, path, body, doneText, failedText) {
    const buttons = [element("switch-button"), element("reset-button")];
    buttons.forEach((button) => { button.disabled = true; });
    try {
      const result = await call(method, path, body);
      if (result.ok && result.data) {
        scenarioChosenByUser = false;
        showActive(result.data);
        setMessage("action-result",
                   `${doneText} ${text(result.data.name)} (seed ${text(result.data.seed)}, ${text(result.data.profile)}).`,
                   false);
        await poll(true);
      } else {
        setMessage("action-result", `${failedText}: ${errorText(result)}`, true);
      }
    } catch (error) {
      setMessage("action-result", `${failedText}: ${error.message}`, true);
    } finally {
      buttons.forEach((button) => { button.disabled = false; });
    }
  }

  element("switch-form").addEventListener("submit", switchScenario);
  element("switch-name").addEventListener("change", () => { scenarioChosenByUser = true; });
  element("reset-button").addEventListener("click", () => act("POST", "/__admin/reset", undefined, "Reset to", "Reset failed"));
  element("refresh-button").addEventListener("click", () => poll(true));
  // A hidden tab stops polling and catches up as soon as it is shown again.
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      poll(true);
    }
  });
  // Coming back from an editor where a scenario file was saved shows the reloaded list at once.
  window.addEventListener("focus", () => poll(true));
  poll(true);
})();
