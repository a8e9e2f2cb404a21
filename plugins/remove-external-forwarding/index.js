// Removes forwarding that sends mail outside the tenant's accepted domains:
//
// - a mailbox's ForwardingSmtpAddress to an external address is cleared;
// - an enabled inbox rule whose ForwardTo, ForwardAsAttachmentTo or
//   RedirectTo names an external address is disabled (the whole rule: a
//   rule cannot be half disabled, and its owner can re-enable it once the
//   external target is removed).
//
// Internal forwarding (ForwardingAddress, internal SMTP targets, [EX:...]
// rule targets) is left alone. The output is a CSV with one row per change
// and how it ended. With the input `what-if` no change is even attempted;
// in a what-if run (`exorun run --what-if`) the changes are made into a plan
// for `exorun apply`. Either way the rows say `planned`.
//
// Mailboxes are read lazily, a page at a time; per batch, the inbox rules
// are read and the changes applied through invokeMany, which the host runs
// concurrently.

import {
  NotFound,
  Throttled,
  cmdlet,
  input,
  invoke,
  invokeMany,
  log,
  progress,
  whatIf,
} from '@exorun/sdk';

const HEADER = ['Mailbox', 'Change', 'Rule', 'Rule Identity', 'External Targets', 'Result'];
const RULE_TARGETS = ['ForwardTo', 'ForwardAsAttachmentTo', 'RedirectTo'];
/** Rounds of waiting out Throttled before a change is reported as failed. */
const THROTTLE_RETRIES = 3;

export async function run() {
  // The input: list the changes without making a single call. A what-if
  // run: make them, into a plan (the host answers each as if it worked).
  const planOnly = input('what-if') === true;
  const planned = planOnly || whatIf();
  const batch = Math.max(1, Number(input('batch') ?? 25));
  const accepted = new Set(
    invoke('Get-AcceptedDomain').map((d) => String(d.DomainName).toLowerCase()),
  );
  log.info(`accepted domains: ${[...accepted].join(', ')}`);
  const isExternal = (address) => {
    const at = address.lastIndexOf('@');
    // An address without a domain cannot be shown to stay inside.
    return at < 0 || !accepted.has(address.slice(at + 1).toLowerCase());
  };

  const rows = [row(HEADER)];
  let mailboxes = 0;
  let failed = 0;
  for (const page of cmdlet('Get-Mailbox', { ResultSize: 'Unlimited' }).pages()) {
    for (let start = 0; start < page.length; start += batch) {
      const chunk = page.slice(start, start + batch);
      const changes = [];
      for (const m of chunk) {
        const target = m.ForwardingSmtpAddress ? stripSmtp(m.ForwardingSmtpAddress) : '';
        if (target && isExternal(target)) {
          changes.push({
            mailbox: m.PrimarySmtpAddress,
            change: 'Cleared ForwardingSmtpAddress',
            rule: '',
            ruleIdentity: '',
            targets: [target],
            call: cmdlet('Set-Mailbox', {
              Identity: m.PrimarySmtpAddress,
              ForwardingSmtpAddress: null,
            }),
          });
        }
      }
      const ruleLists = invokeMany(
        chunk.map((m) => cmdlet('Get-InboxRule', { Mailbox: m.PrimarySmtpAddress })),
      );
      chunk.forEach((m, i) => {
        const result = ruleLists[i];
        if (result.status === 'rejected') {
          if (result.reason instanceof NotFound) {
            log.warn(`${m.PrimarySmtpAddress} disappeared while the run read it`);
            return;
          }
          throw result.reason;
        }
        for (const rule of result.value) {
          if (rule.Enabled !== true) continue;
          const external = RULE_TARGETS.flatMap((p) => rule[p] ?? [])
            .map(smtpTarget)
            .filter((address) => address !== undefined && isExternal(address));
          if (external.length === 0) continue;
          changes.push({
            mailbox: m.PrimarySmtpAddress,
            change: 'Disabled inbox rule',
            rule: rule.Name,
            // Names repeat; the identity is what Enable-InboxRule takes to undo.
            ruleIdentity: rule.Identity,
            targets: external,
            call: cmdlet('Disable-InboxRule', {
              Identity: rule.Identity,
              Mailbox: m.PrimarySmtpAddress,
            }),
          });
        }
      });

      const outcomes = planOnly ? changes.map(() => 'planned') : await apply(changes);
      changes.forEach((c, i) => {
        if (outcomes[i] !== 'done' && outcomes[i] !== 'planned') failed += 1;
        const targets = [...new Set(c.targets)].join('; ');
        rows.push(row([c.mailbox, c.change, c.rule, c.ruleIdentity, targets, outcomes[i]]));
      });
      mailboxes += chunk.length;
      progress(mailboxes);
    }
  }

  const changed = rows.length - 1;
  log.info(
    `${mailboxes} mailboxes read, ${changed} ${planned ? 'changes planned' : 'changes'}` +
      (failed ? `, ${failed} failed` : ''),
  );
  if (failed) log.error(`${failed} changes failed; see the Result column`);
  return rows.join('\n') + '\n';
}

/**
 * Applies a batch of changes concurrently. A change the tenant throttles is
 * retried after the wait it asks for; any other failure is reported in the
 * change's row rather than ending the run, so the output still lists every
 * change that was made.
 * @param {{call: import('@exorun/sdk').Cmdlet}[]} changes
 * @returns {Promise<string[]>} `done` (`planned` in a what-if run) or the
 *   failure, per change
 */
async function apply(changes) {
  const success = whatIf() ? 'planned' : 'done';
  const outcomes = new Array(changes.length);
  let pending = changes.map((_, i) => i);
  for (let round = 0; pending.length > 0; round++) {
    const results = invokeMany(pending.map((i) => changes[i].call));
    const throttled = [];
    let wait = 0;
    pending.forEach((i, k) => {
      const r = results[k];
      if (r.status === 'fulfilled') {
        outcomes[i] = success;
      } else if (r.reason instanceof Throttled && round < THROTTLE_RETRIES) {
        throttled.push(i);
        wait = Math.max(wait, r.reason.retryAfterMs);
      } else {
        outcomes[i] = `failed: ${r.reason.message}`;
      }
    });
    if (throttled.length > 0) {
      const n = throttled.length;
      log.warn(`throttled; retrying ${n} ${n === 1 ? 'change' : 'changes'} in ${wait} ms`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    pending = throttled;
  }
  return outcomes;
}

/** The bare address of a ForwardingSmtpAddress such as `smtp:x@fabrikam.com`. */
function stripSmtp(address) {
  return String(address).replace(/^smtp:/i, '');
}

/**
 * The SMTP address inside a rule target such as `"x@ext.com" [SMTP:x@ext.com]`,
 * or a bare address; `undefined` for a recipient of this tenant
 * (`"Jane Doe" [EX:/o=ExchangeLabs/...]`), which is internal by definition.
 * @param {string} entry
 */
function smtpTarget(entry) {
  const text = String(entry);
  const match = /\[SMTP:([^\]]+)\]/i.exec(text);
  if (match) return match[1];
  if (!text.includes('[') && text.includes('@')) return stripSmtp(text.trim());
  return undefined;
}

/** @param {unknown[]} values */
function row(values) {
  return values.map(field).join(',');
}

/**
 * Quotes a CSV field when it needs it (RFC 4180).
 * @param {unknown} value
 */
function field(value) {
  const text = value == null ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
