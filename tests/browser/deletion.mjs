// Walks the privacy page and the whole data-deletion flow in headless
// Chromium (Debian's) for one language, against the real service.
// usage: node deletion.mjs BASE_URL MOCK_URL PHONE LANG SHOTS_DIR
// Prints one JSON line of what it saw; exits 1 on any failed check.
import { chromium } from 'playwright-core';

const [base, mockUrl, phone, lang, shots] = process.argv.slice(2);
const seen = {};
const fail = (msg) => { console.log(JSON.stringify({ ok: false, msg, seen })); process.exit(1); };
const expect = (cond, msg) => { if (!cond) fail(msg); };

async function lastCode() {
	// The code is sent once the page is out: wait for it.
	let bodies = [];
	for (let i = 0; i < 200 && bodies.length === 0; i++) {
		if (i > 0)
			await new Promise((ok) => setTimeout(ok, 50));
		bodies = await (await fetch(mockUrl + '/requests')).json();
	}
	expect(bodies.length > 0, 'no message reached the mock Graph API');
	const t = JSON.parse(bodies[bodies.length - 1]);
	return t.template.components[0].parameters[0].text;
}

const browser = await chromium.launch({
	executablePath: '/usr/bin/chromium',
	args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	    '--disable-background-networking', '--disable-component-update',
	    '--disable-sync'],
});
try {
	// A phone-sized window: the pages must read well there.
	const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
	const other = lang === 'ar' ? 'en' : 'ar';

	await page.goto(`${base}/privacy?lang=${lang}`);
	seen.lang = await page.getAttribute('html', 'lang');
	seen.dir = await page.getAttribute('html', 'dir');
	expect(seen.lang === lang, `privacy lang ${seen.lang}`);
	expect(seen.dir === (lang === 'ar' ? 'rtl' : 'ltr'), `privacy dir ${seen.dir}`);
	seen.fontSize = await page.evaluate(() => getComputedStyle(document.body).fontSize);
	expect(parseFloat(seen.fontSize) >= 16, `font size ${seen.fontSize}`);
	await page.screenshot({ path: `${shots}/privacy-${lang}.png`, fullPage: true });

	// The link to the other language works.
	await page.click(`a[hreflang="${other}"]`);
	expect(await page.getAttribute('html', 'lang') === other, 'language link');

	await page.goto(`${base}/data-deletion?lang=${lang}`);
	expect(await page.getAttribute('html', 'dir') === seen.dir, 'deletion dir');
	// Labelled input, visible focus.
	const label = await page.textContent('label[for=phone]');
	expect(label && label.trim().length > 0, 'phone input has no label');
	await page.focus('#phone');
	seen.focusOutline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
	expect(seen.focusOutline !== 'none', 'no visible focus');
	await page.screenshot({ path: `${shots}/deletion-${lang}.png`, fullPage: true });
	await page.fill('#phone', phone);
	await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
	expect(await page.$('#code') !== null, 'no code form after sending');
	await page.screenshot({ path: `${shots}/code-${lang}.png`, fullPage: true });

	// A wrong code first: an error, and the form again.
	const code = await lastCode();
	const wrong = code.split('').map((d) => String((+d + 1) % 10)).join('');
	await page.fill('#code', wrong);
	await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
	seen.wrongError = (await page.textContent('.error')).trim();
	expect(seen.wrongError.length > 0, 'no error for a wrong code');
	await page.screenshot({ path: `${shots}/wrong-${lang}.png`, fullPage: true });

	await page.fill('#code', code);
	await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
	seen.confirmation = (await page.textContent('#confirmation')).trim();
	expect(/^[0-9A-Z]{5}-[0-9A-Z]{5}$/.test(seen.confirmation), 'confirmation code');
	await page.screenshot({ path: `${shots}/done-${lang}.png`, fullPage: true });

	await Promise.all([page.waitForNavigation(), page.click('#status-link')]);
	seen.status = (await page.textContent('#status')).trim();
	expect(await page.getAttribute('html', 'lang') === lang, 'status lang');
	await page.screenshot({ path: `${shots}/status-${lang}.png`, fullPage: true });
	console.log(JSON.stringify({ ok: true, seen }));
} finally {
	await browser.close();
}
