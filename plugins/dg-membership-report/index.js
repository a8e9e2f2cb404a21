// Distribution group membership: one CSV row per (group, direct member),
// and one row with empty member columns for a group without members, so
// that every group appears in the report.
//
// Groups are read lazily, one page at a time; each page's member lists are
// read through invokeMany, so the host runs those calls concurrently. Only
// one page of groups and one batch of member lists are in memory at once.

import { NotFound, cmdlet, input, invokeMany, log, progress } from '@exorun/sdk';

const HEADER = ['Group', 'Group Address', 'Member', 'Member Address', 'Member Type'];

export function run() {
  const batch = Math.max(1, Number(input('batch') ?? 25));
  const rows = [HEADER.map(field).join(',')];
  let groups = 0;
  let memberships = 0;

  for (const page of cmdlet('Get-DistributionGroup', { ResultSize: 'Unlimited' }).pages()) {
    for (let start = 0; start < page.length; start += batch) {
      const chunk = page.slice(start, start + batch);
      const results = invokeMany(
        chunk.map((g) =>
          cmdlet('Get-DistributionGroupMember', {
            // The address is unique across recipients, where a name may not be.
            Identity: g.PrimarySmtpAddress,
            ResultSize: 'Unlimited',
          }),
        ),
      );
      chunk.forEach((group, i) => {
        const result = results[i];
        if (result.status === 'rejected') {
          // Deleted between the listing and this read: nothing to report.
          if (result.reason instanceof NotFound) {
            log.warn(`${group.PrimarySmtpAddress} disappeared while the report ran`);
            return;
          }
          throw result.reason;
        }
        const groupColumns = [group.DisplayName, group.PrimarySmtpAddress];
        if (result.value.length === 0) {
          rows.push(row([...groupColumns, '', '', '']));
        }
        for (const member of result.value) {
          rows.push(
            row([
              ...groupColumns,
              member.DisplayName,
              member.PrimarySmtpAddress,
              member.RecipientTypeDetails,
            ]),
          );
        }
        memberships += result.value.length;
      });
      groups += chunk.length;
      // The number of groups is unknown until the last page has been read.
      progress(groups);
    }
  }

  log.info(`${groups} groups, ${memberships} memberships`);
  return rows.join('\n') + '\n';
}

/** @param {unknown[]} values */
function row(values) {
  return values.map(field).join(',');
}

/**
 * Quotes a CSV field when it needs it (RFC 4180); a missing value is empty.
 * @param {unknown} value
 */
function field(value) {
  const text = value == null ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
