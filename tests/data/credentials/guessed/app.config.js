// Settings of the shop's API server.
module.exports = {
  port: 8080,
  passive: 'true-ish',
  db: {
    host: 'db.example.com',
    user: 'shop',
    password: 'letmein1',
  },
  session: {
    secret: process.env.SESSION_SECRET,
    cookieName: 'sid',
  },
  apiKey: "AIzaSyExampleExampleExampleExample0",
  admin: { password: `${process.env.ADMIN_PW}` },
  tokenUrl: 'https://auth.example.com/token',
};
