// The dashboard's one script: it calls exorun's JSON API with the
// session's CSRF token, and follows a running run live. No inline script,
// nothing from elsewhere (see the Content-Security-Policy).
"use strict";

const csrf = () => document.querySelector('meta[name="csrf"]')?.content ?? "";

async function api(method, path, body) {
  const response = await fetch("/api/v1" + path, {
    method,
    headers: { "content-type": "application/json", "x-csrf-token": csrf() },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(data?.error?.message ?? response.statusText);
  }
  return data;
}

function show(id, text) {
  const el = document.getElementById(id);
  if (el) el.textContent = text;
}

function startRunForm() {
  const form = document.getElementById("start-run");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const inputs = {};
    for (const line of document.getElementById("run-inputs").value.split("\n")) {
      const at = line.indexOf("=");
      if (line.trim() === "") continue;
      if (at < 1) { show("start-error", `'${line}' is not name=value`); return; }
      inputs[line.slice(0, at).trim()] = line.slice(at + 1);
    }
    try {
      const data = await api("POST", "/runs", {
        plugin: document.getElementById("run-plugin").value,
        tenant: document.getElementById("run-tenant").value,
        inputs,
        what_if: document.getElementById("run-what-if").checked,
      });
      window.location.href = "/runs/" + data.run.id;
    } catch (e) {
      show("start-error", e.message);
    }
  });
}

function followRun() {
  const el = document.getElementById("run");
  if (!el) return;
  const id = el.dataset.id;
  let after = 0;
  const log = document.getElementById("run-log");
  const cancel = document.getElementById("run-cancel");
  cancel?.addEventListener("click", async () => {
    try { await api("POST", `/runs/${id}/cancel`); } catch (e) { show("run-error", e.message); }
  });
  let finalSeen = false;
  async function tick() {
    try {
      const data = await api("GET", `/runs/${id}`);
      const run = data.run;
      const status = document.getElementById("run-status");
      status.textContent = run.status;
      status.className = "status " + run.status;
      show("run-calls", run.calls);
      show("run-denied", run.denied);
      show("run-failed", run.failed);
      show("run-error", run.error_message ?? "");
      const bar = document.getElementById("run-progress");
      const done = !["queued", "running"].includes(run.status);
      if (run.progress_total) bar.value = Math.min(100, Math.floor(run.progress_done * 100 / run.progress_total));
      if (done) bar.value = 100;
      const denials = document.getElementById("run-denials");
      denials.replaceChildren(...data.denials.map((d) => {
        const li = document.createElement("li");
        li.textContent = `${d.cmdlet}: ${d.rule}: ${d.message}`;
        return li;
      }));
      const lines = await api("GET", `/runs/${id}/log?after=${after}`);
      for (const line of lines.lines) {
        log.append(`${line.time} ${line.level} ${line.line}\n`);
        after = line.seq;
      }
      const output = document.getElementById("run-output");
      if (data.has_output) output.hidden = false;
      if (done) {
        cancel?.remove();
        if (run.plan_id && !document.getElementById("run-plan")) {
          window.location.reload();
          return;
        }
        if (finalSeen) return;
        finalSeen = true;
      }
    } catch (e) {
      show("run-error", e.message);
    }
    setTimeout(tick, 400);
  }
  tick();
}

function planActions() {
  const el = document.getElementById("plan");
  if (!el) return;
  const id = el.dataset.id;
  document.getElementById("plan-approve")?.addEventListener("click", async () => {
    try {
      const data = await api("POST", `/plans/${id}/approve`, { sha256: el.dataset.sha256 });
      window.location.href = "/runs/" + data.apply_run.id;
    } catch (e) { show("plan-error", e.message); }
  });
  document.getElementById("plan-reject")?.addEventListener("click", async () => {
    try {
      await api("POST", `/plans/${id}/reject`, { reason: document.getElementById("plan-reason").value || null });
      window.location.reload();
    } catch (e) { show("plan-error", e.message); }
  });
}

function scheduleToggles() {
  for (const button of document.querySelectorAll(".schedule-toggle")) {
    button.addEventListener("click", async () => {
      const verb = button.dataset.enable === "true" ? "enable" : "disable";
      try { await api("POST", `/schedules/${button.dataset.name}/${verb}`); window.location.reload(); }
      catch (e) { alert(e.message); }
    });
  }
}

function pluginActions() {
  const form = document.getElementById("install-form");
  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const data = await api("POST", "/plugins", { source: document.getElementById("install-source").value });
      window.location.href = "/consents/" + data.consent.id;
    } catch (e) { show("install-error", e.message); }
  });
  for (const box of document.querySelectorAll(".actions[data-name]")) {
    const name = box.dataset.name;
    const error = (text) => { box.querySelector(".plugin-error").textContent = text; };
    box.querySelector(".plugin-upgrade")?.addEventListener("click", async () => {
      const to = box.querySelector(".upgrade-to").value.trim();
      try {
        const data = await api("POST", `/plugins/${encodeURIComponent(name)}/upgrade`, to ? { to } : {});
        window.location.href = "/consents/" + data.consent.id;
      } catch (e) { error(e.message); }
    });
    box.querySelector(".plugin-held")?.addEventListener("click", async () => {
      try {
        const data = await api("POST", `/plugins/${encodeURIComponent(name)}/held`);
        window.location.href = "/consents/" + data.consent.id;
      } catch (e) { error(e.message); }
    });
    box.querySelector(".plugin-uninstall")?.addEventListener("click", async () => {
      if (!window.confirm(`Uninstall ${name}? Its schedules stop finding it.`)) return;
      try { await api("DELETE", `/plugins/${encodeURIComponent(name)}`); window.location.reload(); }
      catch (e) { error(e.message); }
    });
  }
}

function consentActions() {
  const el = document.getElementById("consent");
  if (!el) return;
  const id = el.dataset.id;
  document.getElementById("consent-accept")?.addEventListener("click", async () => {
    try {
      await api("POST", `/consents/${id}/accept`, { digest: el.dataset.digest });
      window.location.href = "/plugins";
    } catch (e) { show("consent-error", e.message); }
  });
  document.getElementById("consent-decline")?.addEventListener("click", async () => {
    try { await api("POST", `/consents/${id}/decline`); window.location.href = "/plugins"; }
    catch (e) { show("consent-error", e.message); }
  });
}

function trustActions() {
  document.getElementById("trust-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const namespaces = document.getElementById("trust-namespaces").value
      .split(",").map((s) => s.trim()).filter((s) => s !== "");
    try {
      await api("POST", "/trust", {
        public_key: document.getElementById("trust-key").value,
        publisher: document.getElementById("trust-publisher").value,
        namespaces,
      });
      window.location.reload();
    } catch (e) { show("trust-error", e.message); }
  });
  for (const button of document.querySelectorAll(".trust-remove")) {
    button.addEventListener("click", async () => {
      try { await api("DELETE", `/trust/${encodeURIComponent(button.dataset.key)}`); window.location.reload(); }
      catch (e) { show("trust-error", e.message); }
    });
  }
}

function tenantActions() {
  document.getElementById("tenant-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const profile = document.getElementById("tenant-profile").value.trim();
    const limit = document.getElementById("tenant-limit").value;
    const body = { name: document.getElementById("tenant-name").value.trim() };
    if (profile !== "") body.profile = profile;
    if (document.getElementById("tenant-simulated").checked) body.simulated = true;
    if (limit !== "") body.max_concurrent_runs = Number(limit);
    try { await api("POST", "/tenants", body); window.location.reload(); }
    catch (e) { show("tenant-error", e.message); }
  });
  for (const cell of document.querySelectorAll(".tenant-actions")) {
    const name = encodeURIComponent(cell.dataset.name);
    cell.querySelector(".tenant-reconnect")?.addEventListener("click", async () => {
      try { await api("POST", `/tenants/${name}/reconnect`); window.location.reload(); }
      catch (e) { show("tenant-error", e.message); }
    });
    cell.querySelector(".tenant-remove")?.addEventListener("click", async () => {
      if (!window.confirm(`Stop serving ${cell.dataset.name}?`)) return;
      try { await api("DELETE", `/tenants/${name}`); window.location.reload(); }
      catch (e) { show("tenant-error", e.message); }
    });
  }
}

document.getElementById("logout")?.addEventListener("click", async () => {
  try { await api("POST", "/logout"); } finally { window.location.href = "/login"; }
});

startRunForm();
followRun();
planActions();
scheduleToggles();
pluginActions();
consentActions();
trustActions();
tenantActions();
