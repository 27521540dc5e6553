// The typed API client's helpers for what the service answered: an error answer becomes one readable Error.
import t from 'tap';
import { answerOf, describeApiError } from '../../services/api/client/client.ts';

t.test('an error answer is described by its code and message, anything else by its status', async (t) => {
  t.equal(describeApiError(404, { statusCode: 404, code: 'VEHICLE_NOT_FOUND', message: 'no vehicle WVW' }), 'VEHICLE_NOT_FOUND: no vehicle WVW');
  t.equal(describeApiError(502, '<html>bad gateway</html>'), 'HTTP 502');
  t.equal(describeApiError(500, undefined), 'HTTP 500');
  t.equal(describeApiError(400, { code: 'BAD_REQUEST', message: 'x'.repeat(500) }).length, 'BAD_REQUEST: '.length + 200, 'a long message is cut');
});

t.test('answerOf gives the data, or throws naming the call and the error answer', async (t) => {
  t.strictSame(answerOf('fleet cockpit', { data: { kpis: { samples: 3 } }, response: new Response(null, { status: 200 }) }), { kpis: { samples: 3 } });
  t.throws(
    () => answerOf('brand cockpit', { error: { statusCode: 404, code: 'BRAND_NOT_FOUND', message: 'no brand Nope' }, response: new Response(null, { status: 404 }) }),
    { message: 'brand cockpit: BRAND_NOT_FOUND: no brand Nope' },
  );
});
