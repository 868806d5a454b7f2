/**
 * The formats and look-alikes of structured PII beyond the basics in pii.test.ts: phone extensions,
 * separators and cue words, cards and IBANs that pass only the weaker test, and the numbers that
 * look like them but are not (dates, versions, ids, postcodes).
 */
import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { createPiiDetector } from './pii.ts';
import { cardIinOk, luhnOk } from './pii-validators.ts';
import { DetectorStopped } from './types.ts';

const pii = createPiiDetector();
const found = (t: string): Array<[string, string, number]> =>
  pii.scan(t).map((s) => [s.type, t.slice(s.start, s.end), s.confidence]);
const phones = (t: string): string[] =>
  pii
    .scan(t)
    .filter((s) => s.type === 'PHONE')
    .map((s) => t.slice(s.start, s.end));

test('phone extensions are part of the number, which is validated without them', () => {
  assert.deepEqual(found('Fax: 463-612-6138x036'), [['PHONE', '463-612-6138x036', 0.8]]);
  assert.deepEqual(found('call 415-555-2671 x123 today'), [['PHONE', '415-555-2671 x123', 0.8]]);
  assert.deepEqual(found('Phone: 415.555.2671 ext. 36'), [['PHONE', '415.555.2671 ext. 36', 0.8]]);
  assert.deepEqual(found('desk: +1-604-696-5272x565'), [['PHONE', '+1-604-696-5272x565', 0.9]]);
});

test('international numbers: "+1-…", "(+44) …", "(0)" trunk', () => {
  assert.deepEqual(phones('phone (+44) 20 7946 0958'), ['(+44) 20 7946 0958']);
  assert.deepEqual(phones('Tel. +49 (0)30 901820'), ['+49 (0)30 901820']);
  assert.deepEqual(phones('Call me: +33 1 42 68 53 00'), ['+33 1 42 68 53 00']);
});

test('a number does not continue across a line break', () => {
  // The postcode above used to be read as the start of the number.
  assert.deepEqual(phones('Nicosia\n 61089\n28-64-66-98 office'), ['28-64-66-98']);
  assert.deepEqual(phones('Hungary 34796\n(37) 788-063-Office'), ['(37) 788-063']);
});

test('with a phone cue, a possible but not valid number counts, at lower confidence', () => {
  // Local numbers without their area code, unassigned area codes, fictional ranges.
  assert.deepEqual(found('Phone: 467 3395'), [['PHONE', '467 3395', 0.55]]);
  assert.deepEqual(found('Can someone call me on 9472 7916?'), [['PHONE', '9472 7916', 0.55]]);
  assert.deepEqual(found("They're not answering at 374 780 163"), [['PHONE', '374 780 163', 0.55]]);
  assert.deepEqual(found('I would like to stop receiving messages to 699 956 915'), [
    ['PHONE', '699 956 915', 0.55],
  ]);
  assert.deepEqual(found('Desk: +447700 921 916'), [['PHONE', '+447700 921 916', 0.55]]);
  assert.deepEqual(found('Fax: 259.735.7502x459'), [['PHONE', '259.735.7502x459', 0.55]]);
  // The label after the number: "416 60 039 office", "…-Fax".
  assert.deepEqual(found('PSC 3294, Box 9168\n416 60 039 office'), [['PHONE', '416 60 039', 0.55]]);
  assert.deepEqual(found('085 175 7641-Office\\,3660170548-Fax'), [
    ['PHONE', '085 175 7641', 0.6],
    ['PHONE', '3660170548', 0.55],
  ]);
});

test('without a cue, the same digits are not a phone number', () => {
  assert.deepEqual(found('They have 374 780 163 users'), []);
  assert.deepEqual(found('The population grew to 9472 7916'), []);
  // Words that only look like cues: messaging without "to/on/at", "called" as "named".
  assert.deepEqual(found('error message 404 500 503'), []);
  assert.deepEqual(found('the function was called 1234567890 times'), []);
});

// A phone cue counts only in a label position right before the number: not a bare "call" or
// "contact", not with other words (an id's name, a time) between it, not a generic label such as
// "home:" or "desk:" alone, not a label word after the number that goes on ("office chairs").
for (const t of [
  'api call took 123 456 789 ns',
  'call getUser(1234567890)',
  'Contact: order number 0012345678',
  'Call at 14:30 re: build 20240315 143002',
  'home: 221 334 55 records',
  'the desk: 12 345 678 items',
  'calls: 2345678901 total this month',
  'Phone firmware version 12 345 678',
  'we bought 416 60 039 office chairs',
]) {
  test(`a cue word out of a label position does not make a phone number: ${t}`, () => {
    assert.deepEqual(found(t), []);
  });
}

test('phone cues in a label position, with label and function words between', () => {
  assert.deepEqual(found('Phone number: 467 3395'), [['PHONE', '467 3395', 0.55]]);
  assert.deepEqual(found('text me on my mobile 467 3395'), [['PHONE', '467 3395', 0.55]]);
  assert.deepEqual(found("didn't get any message on my registered 668 5702"), [['PHONE', '668 5702', 0.55]]);
  assert.deepEqual(found('416 60 039 (office)'), [['PHONE', '416 60 039', 0.55]]);
  // A generic label in a block that a phone word labels, or before a "+" number.
  assert.deepEqual(found('Mobile: 737 219 628\nDesk: 5403926876'), [
    ['PHONE', '737 219 628', 0.55],
    ['PHONE', '5403926876', 0.8],
  ]);
});

test('an unformatted run of digits needs a cue even when it is a valid number', () => {
  assert.deepEqual(found('{"t":4155552671,"id":7}'), []);
  assert.deepEqual(found('{"phone":"4155552671"}'), [['PHONE', '4155552671', 0.8]]);
});

test('phone look-alikes: dates, year ranges, versions, decimals, IPs, ISBNs, ids in URLs', () => {
  assert.deepEqual(phones('## 0.112.1 (2026-07-16)'), []);
  assert.deepEqual(phones('compare/v5.0.0...v6.0.0) (2019-11-10)'), []);
  assert.deepEqual(phones('1.12.22 / 24.9.2025 calling code'), []);
  assert.deepEqual(phones('call me 2005-2010'), []);
  assert.deepEqual(phones('call 3.14159265'), []);
  assert.deepEqual(found('call 36.160.14.148'), [['IP_ADDRESS', '36.160.14.148', 0.9]]);
  assert.deepEqual(phones('ISBN 978-3-16-148410-0 phone'), []);
  assert.deepEqual(phones('see http://x.example/e/075678398926/?itm=3'), []);
  assert.deepEqual(phones('(401/403/429, lockouts)'), []);
});

test('a postcode before a house number is an address, not a phone number', () => {
  assert.deepEqual(found('Billing address: Tintin Forsberg\n    03262 2437 Main St Suite 442'), [
    ['STREET_ADDRESS', '2437 Main St', 0.6],
    ['STREET_ADDRESS', 'Suite 442', 0.5],
  ]);
});

test('cards: Luhn without a known issuer counts only right after a card word', () => {
  // 16 digits starting 35 outside JCB's 3528–3589; a 7 (petroleum) fleet card.
  assert.deepEqual(found('my card 3598899323053410 is lost'), [['CREDIT_CARD', '3598899323053410', 0.7]]);
  assert.deepEqual(found('What is my credit card number? 7088000000123455'), [
    ['CREDIT_CARD', '7088000000123455', 0.7],
  ]);
  assert.deepEqual(found('order 3598899323053410 shipped'), []);
  assert.deepEqual(found('my card 3598899323053411'), []); // Luhn fails
});

// The weak card tier: a card word right before the number (no other noun between), a payment
// industry's first digit (ISO/IEC 7812 MII 1–7) and 13–19 digits. A SIM's ICCID is Luhn-valid and
// starts 89 (MII 8: telecom); 9 is national use; "0604…" (MII 0, 12 digits) is no card number.
for (const t of [
  'My SIM card ICCID is 8944100000000000125, please activate it',
  'Replacement SIM card: 8944100000000000125',
  'card 987654321012347',
  'redeem points on credit card 060426070011 please',
  'My card was declined, transaction id 3598899323053410',
  'credit note 3598899323053410',
]) {
  test(`not a payment card: ${t}`, () => {
    assert.deepEqual(found(t), []);
  });
}

test('issuer ranges beyond the big four', () => {
  assert.equal(cardIinOk('2200000000000004'), true); // Mir
  assert.equal(cardIinOk('2200000000000000004'), true); // Mir, 19 digits
  assert.equal(cardIinOk('9792000000000004'), true); // Troy
  assert.equal(cardIinOk('3100000000000000004'), true); // China T-Union
  assert.equal(cardIinOk('3598899323053410'), false); // 35xx outside JCB
  assert.equal(luhnOk('3598899323053410'), true);
});

test('IBANs typed in lower case still validate (mod 97 on the upper-cased form)', () => {
  assert.deepEqual(found('my iban is gb42nawi04454264788619'), [['IBAN', 'gb42nawi04454264788619', 0.85]]);
  assert.deepEqual(found('my iban is gb42nawi04454264788618'), []);
});

test('the digit-run scan finds what a scan of every position finds', () => {
  // Matches at the very start and end, next to letters and after a failed candidate.
  assert.deepEqual(found('DE89370400440532013000'), [['IBAN', 'DE89370400440532013000', 0.95]]);
  assert.deepEqual(found('xDE89 3704 0044 0532 0130 00'), []);
  assert.deepEqual(found('x4111111111111111y'), [['CREDIT_CARD', '4111111111111111', 0.95]]);
  assert.deepEqual(found('12345 4111 1111 1111 1111'), []);
  assert.deepEqual(found('ref-536-22-1234'), []);
  assert.deepEqual(found('at 10.0.0.1:8080 not 192.168.1.20.5'), [['IP_ADDRESS', '10.0.0.1', 0.9]]);
  assert.deepEqual(found('fe80::1%eth0'), [['IP_ADDRESS', 'fe80::1%eth0', 0.9]]);
  assert.deepEqual(found('12 Main St and 34 Elm Road'), [
    ['STREET_ADDRESS', '12 Main St', 0.6],
    ['STREET_ADDRESS', '34 Elm Road', 0.6],
  ]);
  assert.deepEqual(found('Unit 5 and Apt. 12'), [
    ['STREET_ADDRESS', 'Unit 5', 0.5],
    ['STREET_ADDRESS', 'Apt. 12', 0.5],
  ]);
  assert.deepEqual(found('Hauptstraße 5, Berlin'), [['STREET_ADDRESS', 'Hauptstraße 5', 0.5]]);
  // A date of birth far from its cue, and a cue inside a longer word.
  assert.deepEqual(found('Date of birth (as printed):   04/12/1987'), [
    ['DATE_OF_BIRTH', '04/12/1987', 0.85],
  ]);
  assert.deepEqual(found(`${'x'.repeat(60)}reborn on 01/02/1990`), []);
});

test('digit-dense text stays fast (a JSON tool result full of timestamps)', () => {
  const json = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ id: i, t: 1_700_000_000 + i })));
  const t0 = performance.now();
  assert.deepEqual(pii.scan(json), []);
  // ~10 ms; ~180 ms before bare runs needed a cue (a libphonenumber call per timestamp).
  assert.ok(performance.now() - t0 < 75, 'JSON scan too slow');
});

describe('bounded work', () => {
  it('stops a long phone scan when asked, with DetectorStopped', () => {
    const text = 'phone: 12 345 678 '.repeat(2_000);
    assert.throws(
      () => createPiiDetector().scan(text, () => true),
      (err) => err instanceof DetectorStopped,
    );
  });

  it('looks back at most one street-word length for a street name (no quadratic scan)', () => {
    const text = `${'A-'.repeat(16_000)}Strasse 123456 and Koskikatu 25`;
    const started = performance.now();
    const spans = createPiiDetector({ entities: ['STREET_ADDRESS'] }).scan(text);
    assert.ok(performance.now() - started < 1_000);
    assert.deepEqual(
      spans.map((s) => text.slice(s.start, s.end)),
      ['Koskikatu 25'],
    );
  });
});
