export function ExchangePage(_p: any) { return <h1>ExchangePage</h1>; }
