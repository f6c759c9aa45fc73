import NextAuth from 'next-auth';
import { getAuth } from '@/lib/auth/runtime';

// next-auth's own routes (sign-in, callback, session, CSRF), with options built from config.
function handler(req: Request, ctx: { params: Promise<{ nextauth: string[] }> }) {
  return NextAuth(getAuth().options)(req, ctx);
}

export { handler as GET, handler as POST };
