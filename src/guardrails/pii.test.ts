import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPiiDetector } from './pii.ts';
import { cardIinOk, ibanOk, luhnOk, ssnOk } from './pii-validators.ts';

const pii = createPiiDetector();
const found = (t: string): Array<[string, string]> =>
  pii.scan(t).map((s) => [s.type, t.slice(s.start, s.end)]);

test('emails', () => {
  assert.deepEqual(found('write to jane.doe+x@mail.example.co.uk today'), [
    ['EMAIL', 'jane.doe+x@mail.example.co.uk'],
  ]);
  assert.deepEqual(found('not an email: a..b@x.com'), []);
});

test('payment cards need Luhn and a plausible issuer/length', () => {
  assert.deepEqual(found('card 4111 1111 1111 1111 exp 12/27'), [['CREDIT_CARD', '4111 1111 1111 1111']]);
  assert.deepEqual(found('amex 3782-822463-10005'), [['CREDIT_CARD', '3782-822463-10005']]);
  assert.deepEqual(found('order 4111 1111 1111 1112'), []); // Luhn fails
  assert.equal(luhnOk('79927398713'), true);
  assert.equal(cardIinOk('9111111111111111'), false);
});

test('IBANs need the country length and mod 97', () => {
  assert.deepEqual(found('IBAN: DE89 3704 0044 0532 0130 00, thanks'), [
    ['IBAN', 'DE89 3704 0044 0532 0130 00'],
  ]);
  assert.equal(ibanOk('GB82WEST12345698765432'), true);
  assert.equal(ibanOk('GB82WEST12345698765433'), false);
  assert.equal(ibanOk('DE8937040044053201300'), false); // one digit short for DE
});

test('US SSNs follow SSA rules; bare 9 digits only next to a cue', () => {
  assert.deepEqual(found('SSN 536-22-1234'), [['US_SSN', '536-22-1234']]);
  assert.deepEqual(found('id 666-22-1234 or 900-12-1234 or 123-00-4567'), []);
  assert.deepEqual(found('social security number 536221234'), [['US_SSN', '536221234']]);
  assert.deepEqual(found('order number 536221234'), []);
  assert.equal(ssnOk('078', '05', '1120'), false);
});

test('IP addresses are validated', () => {
  assert.deepEqual(found('from 192.168.1.20 and 2001:db8::8a2e:370:7334'), [
    ['IP_ADDRESS', '192.168.1.20'],
    ['IP_ADDRESS', '2001:db8::8a2e:370:7334'],
  ]);
  assert.deepEqual(found('version 1.2.3.4.5 and 300.1.1.1 and at 12:30:45'), []);
});

test('phone numbers, international and national', () => {
  assert.deepEqual(found('call +44 20 7946 0958 now'), [['PHONE', '+44 20 7946 0958']]);
  assert.deepEqual(found('or (415) 555-2671'), [['PHONE', '(415) 555-2671']]);
  assert.deepEqual(found('in 2024 we sold 1500 units'), []);
});

test('dates of birth only in context', () => {
  assert.deepEqual(found('DOB: 04/12/1987'), [['DATE_OF_BIRTH', '04/12/1987']]);
  assert.deepEqual(found('She was born on March 3, 1990 in Ohio'), [['DATE_OF_BIRTH', 'March 3, 1990']]);
  assert.deepEqual(found('The meeting is on 04/12/1987'), []);
});

test('street addresses and names, where there is structure or a cue', () => {
  assert.deepEqual(found('ship to 1600 Pennsylvania Avenue, Washington, DC 20500'), [
    ['STREET_ADDRESS', '1600 Pennsylvania Avenue, Washington, DC 20500'],
  ]);
  assert.deepEqual(found('Dear Dr. Maria Gonzalez, thanks'), [['PERSON', 'Maria Gonzalez']]);
  assert.deepEqual(found('Hi, my name is John Smith.'), [['PERSON', 'John Smith']]);
  assert.deepEqual(found('Dear Sir or Madam'), []);
});

test('the entity set is configurable', () => {
  const onlyEmail = createPiiDetector({ entities: ['EMAIL'] });
  assert.deepEqual(
    onlyEmail.scan('a@b.example 4111 1111 1111 1111').map((s) => s.type),
    ['EMAIL'],
  );
});

test('custom entities by regex, with the safe-regex policy', () => {
  const d = createPiiDetector({ entities: [], custom: [{ name: 'EMPLOYEE_ID', pattern: 'EMP-\\d{6}' }] });
  assert.deepEqual(
    d.scan('badge EMP-004211 ok').map((s) => s.type),
    ['EMPLOYEE_ID'],
  );
  assert.throws(() => createPiiDetector({ custom: [{ name: 'BAD', pattern: '(a+)+$' }] }), /backtrack/);
  assert.throws(() => createPiiDetector({ custom: [{ name: 'lower', pattern: 'x' }] }), /UPPER_SNAKE/);
});
