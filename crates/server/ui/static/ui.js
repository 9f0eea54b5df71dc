// greenroom portal: the little the pages need from the browser. Writes go to
// the guarded /api routes with the token this browser keeps (Settings).
(function () {
  "use strict";
  var TOKEN_KEY = "greenroom.token";

  function token() {
    try { return localStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }

  function guarded() {
    return document.body.getAttribute("data-writes-guarded") === "true";
  }

  // Calls the API as any client would; resolves to {status, body}.
  function api(method, url, body) {
    var headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (token()) headers.Authorization = "Bearer " + token();
    return fetch(url, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined })
      .then(function (r) {
        return r.text().then(function (t) {
          var parsed = null;
          try { parsed = t ? JSON.parse(t) : null; } catch (e) { parsed = null; }
          return { status: r.status, body: parsed };
        });
      });
  }

  // What went wrong, in words, from a Backstage error body.
  function explain(res) {
    if (res.status === 401) {
      return token()
        ? "The access token was refused (" + ((res.body && res.body.error && res.body.error.message) || "401") + "). Check it under Settings."
        : "This portal guards writes and this browser has no access token. Add one under Settings.";
    }
    var b = res.body || {};
    var lines = [];
    if (b.error && b.error.message) lines.push(b.error.message);
    (b.errors || []).forEach(function (e) { lines.push((e.property || "") + " " + (e.message || "")); });
    return lines.join("\n") || ("Request failed with status " + res.status);
  }

  function show(el, text) {
    if (!el) return;
    el.textContent = text;
    el.hidden = false;
  }

  function onReady() {
    // Filter bars apply as soon as a choice changes.
    document.querySelectorAll("form[data-autosubmit] select").forEach(function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
    });

    // A field other fields depend on: show the step again with the fields
    // its new value brings in (the server decides which).
    document.querySelectorAll("form [data-refresh]").forEach(function (input) {
      input.addEventListener("change", function () {
        var form = input.form;
        var stay = document.createElement("input");
        stay.type = "hidden";
        stay.name = "_go";
        stay.value = "stay";
        form.appendChild(stay);
        try { sessionStorage.setItem("greenroom.focus", input.id || input.name); } catch (e) { /* private mode */ }
        form.submit();
      });
    });
    // Keyboard users stay where they were after that re-render.
    try {
      var refocus = sessionStorage.getItem("greenroom.focus");
      if (refocus) {
        sessionStorage.removeItem("greenroom.focus");
        var el = document.getElementById(refocus) || document.querySelector('[name="' + CSS.escape(refocus) + '"]');
        if (el) el.focus();
      }
    } catch (e) { /* private mode */ }

    if (guarded() && !token()) {
      document.querySelectorAll("[data-guard-notice]").forEach(function (n) { n.hidden = false; });
    }

    var tokenForm = document.querySelector("[data-token-form]");
    if (tokenForm) {
      var status = tokenForm.querySelector("[data-token-status]");
      status.textContent = token() ? "A token is saved in this browser." : "No token saved.";
      tokenForm.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var value = tokenForm.querySelector("#token").value.trim();
        try { localStorage.setItem(TOKEN_KEY, value); } catch (e) { /* private mode */ }
        tokenForm.querySelector("#token").value = "";
        status.textContent = value ? "Token saved in this browser." : "No token saved.";
      });
      tokenForm.querySelector("[data-token-clear]").addEventListener("click", function () {
        try { localStorage.removeItem(TOKEN_KEY); } catch (e) { /* private mode */ }
        status.textContent = "Token forgotten.";
      });
    }

    var create = document.querySelector("[data-create]");
    if (create) {
      var form = create.closest("form");
      var out = document.querySelector("[data-create-error]");
      create.addEventListener("click", function () {
        create.disabled = true;
        var values = JSON.parse(form.getAttribute("data-values") || "{}");
        api("POST", "/api/scaffolder/v2/tasks", { templateRef: form.getAttribute("data-template-ref"), values: values })
          .then(function (res) {
            if (res.status === 201 && res.body && res.body.id) {
              window.location.assign("/create/tasks/" + encodeURIComponent(res.body.id));
              return;
            }
            create.disabled = false;
            show(out, explain(res));
          })
          .catch(function (e) { create.disabled = false; show(out, String(e)); });
      });
    }

    var register = document.querySelector("[data-register]");
    if (register) {
      var result = document.querySelector("[data-register-result]");
      register.addEventListener("click", function () {
        register.disabled = true;
        api("POST", "/api/catalog/locations", { type: "url", target: register.getAttribute("data-register") })
          .then(function (res) {
            if (res.status === 201) {
              show(result, "Registered. The catalog is reading the location now; its entities appear in the catalog within seconds.");
              result.insertAdjacentHTML("beforeend", ' <a href="/catalog?kind=all">Open the catalog</a>');
              return;
            }
            register.disabled = false;
            show(result, explain(res));
          })
          .catch(function (e) { register.disabled = false; show(result, String(e)); });
      });
    }

    // Unregistering removes the location and every entity it brought in;
    // an orphan is deleted on its own. Both ask first.
    var actionResult = document.querySelector("[data-entity-action-result]");
    var entityAction = function (button, question, url) {
      button.addEventListener("click", function () {
        if (!window.confirm(question)) return;
        button.disabled = true;
        api("DELETE", url).then(function (res) {
          if (res.status === 204) { window.location.assign("/catalog?kind=all"); return; }
          button.disabled = false;
          show(actionResult, explain(res));
        }).catch(function (e) { button.disabled = false; show(actionResult, String(e)); });
      });
    };
    var unregister = document.querySelector("[data-unregister]");
    if (unregister) {
      entityAction(unregister,
        "Unregister " + unregister.getAttribute("data-location") + "? Every entity it brought into the catalog is removed.",
        "/api/catalog/locations/" + encodeURIComponent(unregister.getAttribute("data-unregister")));
    }
    var deleteEntity = document.querySelector("[data-delete-entity]");
    if (deleteEntity) {
      entityAction(deleteEntity, "Delete this orphaned entity from the catalog?",
        "/api/catalog/entities/by-uid/" + encodeURIComponent(deleteEntity.getAttribute("data-delete-entity")));
    }

    var cancel = document.querySelector("[data-cancel]");
    if (cancel) {
      var cancelled = document.querySelector("[data-cancel-result]");
      cancel.addEventListener("click", function () {
        cancel.disabled = true;
        api("POST", "/api/scaffolder/v2/tasks/" + encodeURIComponent(cancel.getAttribute("data-cancel")) + "/cancel")
          .then(function (res) {
            if (res.status === 200) { show(cancelled, "Cancelling: the current step stops, the rest are skipped."); return; }
            cancel.disabled = false;
            show(cancelled, explain(res));
          })
          .catch(function (e) { cancel.disabled = false; show(cancelled, String(e)); });
      });
    }

    var task = document.querySelector("[data-task]");
    if (task && task.getAttribute("data-finished") !== "true" && window.EventSource) {
      var id = task.getAttribute("data-task");
      var after = task.getAttribute("data-last-event");
      var log = task.querySelector("[data-log]");
      var url = "/api/scaffolder/v2/tasks/" + encodeURIComponent(id) + "/eventstream" + (after && after !== "-1" ? "?after=" + after : "");
      var source = new EventSource(url);
      var handle = function (ev) {
        var event;
        try { event = JSON.parse(ev.data); } catch (e) { return; }
        var body = event.body || {};
        if (event.type === "log" && body.message) {
          log.textContent += (log.textContent ? "\n" : "") + body.message;
          log.scrollTop = log.scrollHeight;
        }
        if (body.stepId && body.status) {
          var step = task.querySelector('[data-step="' + CSS.escape(body.stepId) + '"]');
          if (step) {
            step.className = "step st-" + body.status;
            var badge = step.querySelector("[data-step-status]");
            badge.textContent = body.status;
            badge.className = "status st-" + body.status;
          }
        }
        if (event.type === "completion") {
          source.close();
          // The server renders the outcome (status, output links).
          window.location.reload();
        }
      };
      source.addEventListener("log", handle);
      source.addEventListener("completion", handle);
      source.addEventListener("cancelled", handle);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", onReady);
  else onReady();
})();
