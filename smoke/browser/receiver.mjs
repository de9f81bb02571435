// A webhook receiver for smoke_browser.sh: verifies every request with the Standard Webhooks
// reference library (npm standardwebhooks), answers 500 while the file DOWN exists and 204 once
// it is gone, and logs one JSON line per request.
import fs from 'node:fs';
import http from 'node:http';
import { Webhook } from 'standardwebhooks';

const [port, secret, log, down] = process.argv.slice(2);
const webhook = new Webhook(secret);
const attempts = new Map();

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    let event = null;
    let error = null;
    try {
      event = webhook.verify(body, req.headers);
    } catch (e) {
      error = e.message;
    }
    const id = req.headers['webhook-id'];
    const attempt = (attempts.get(id) || 0) + 1;
    attempts.set(id, attempt);
    const status = error ? 400 : fs.existsSync(down) ? 500 : 204;
    fs.appendFileSync(log, JSON.stringify({ id, attempt, verified: !error, error, type: event?.type, status }) + '\n');
    res.writeHead(status).end(status === 500 ? 'smoke receiver fails this attempt on purpose' : '');
  });
}).listen(Number(port), '127.0.0.1');
